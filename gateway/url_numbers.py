"""Numbers in URLs are bounded: an id larger than a 64-bit integer cannot exist, and handing
one to the database is an overflow (a 500) on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

from shared.db import MAX_ID


class BoundedInt(IntegerConverter):
    """`<int:...>` that does not match above MAX_ID (so the URL is a 404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)
