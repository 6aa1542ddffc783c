"""A body sent without Content-Length (`Transfer-Encoding: chunked`) is held to
MAX_CONTENT_LENGTH as one with it is.

Given a Content-Length over the limit, werkzeug refuses the body (413) when it is read. A chunked
body has no length to check in advance: werkzeug reads it up to the limit and stops, and the
read hands back that first part as if it were the whole body (its stream raises only on a read
after that). So a JSON body past the limit was a 400 "not valid JSON" instead of a 413, a form
lost its later fields without a word, and a body whose first 256 KiB happened to be valid JSON
was taken, whatever followed. gunicorn, the deployed server, passes chunked bodies through
(`wsgi.input_terminated`).
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge


def refuse_truncated_body() -> None:
    """Read a chunked body first, as the views would (kept for them), and refuse it when more of
    it remains past the limit. Whether anything remains is asked of the server's own input: a
    body of exactly the limit is taken."""
    limit = request.max_content_length
    if limit is None or request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return
    if len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def init_app(app: Flask) -> None:
    """First of the request hooks: before CSRF protection reads a form, or a view its JSON."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_truncated_body)
