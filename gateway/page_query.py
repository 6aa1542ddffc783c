"""How the pages (KAMs', customers', /ops) read their query string: each parameter once.

A parameter given twice (`/ops?window=day&window=hour`, `/customers?kam=3&kam=4`) was read as
its first value, silently: the page answered something other than what the address asked. It is
a 400 naming the parameter, as the API refuses it (`gateway.api.parsing`, 422 by its name). No
page takes a list in its query string; one that does would read it with `request.args.getlist`.
"""

from __future__ import annotations

from flask import abort, request

from gateway.api.parsing import REPEATED


def query_value(name: str, default: str = "") -> str:
    """The value of the query parameter `name`, or `default` when it is not given. A parameter
    given more than once ends the request: 400, naming it."""
    values = request.args.getlist(name)
    if len(values) > 1:
        abort(400, description=f"The address gives the parameter '{name}' {len(values)} times. {REPEATED}")
    return values[0] if values else default
