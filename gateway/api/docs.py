"""The API's documentation: the OpenAPI document generated from the marshmallow schemas
(served by flask-smorest at /api/openapi.json) and a page rendering it at /api/docs.

Like everything but login and health, both need a caller: a valid API token, or a logged-in
member of staff (not a customer). The page is rendered on the server from the same document, so it cannot
drift from it, and needs no JavaScript or CDN.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_login import current_user
from markdown_it import MarkdownIt
from markupsafe import Markup

from gateway.api import openapi
from gateway.api.auth import bearer_token
from shared import organisations, permissions, webhook_signing

docs = Blueprint("api_docs", __name__)
PROTECTED = ("/api/openapi.json", "/api/docs")
#: The document's descriptions are CommonMark (backticks, lists, links): render them, with raw
#: HTML escaped ("js-default" turns HTML off), so a description cannot inject markup.
_MARKDOWN = MarkdownIt("js-default")


@docs.app_template_filter("markdown")
def markdown(text: str | None) -> Markup:
    """A description as HTML paragraphs."""
    return Markup(_MARKDOWN.render(text or ""))


@docs.app_template_filter("markdown_inline")
def markdown_inline(text: str | None) -> Markup:
    """A one-line description (a summary, a table cell) as inline HTML."""
    return Markup(_MARKDOWN.renderInline(text or ""))


def _has_valid_token() -> bool:
    token = bearer_token()
    return token is not None and organisations.live_api_token(token) is not None


def require_caller():
    """`before_request` for the documents: 401 for anonymous callers."""
    if request.path not in PROTECTED:
        return None
    if _has_valid_token() or permissions.may(getattr(current_user, "role", None), permissions.API_DOCUMENTS):
        return None
    answer = jsonify(
        code=401, status="Unauthorized", message="Send your API token as 'Authorization: Bearer <token>', or log in."
    )
    return answer, 401


@docs.get("/api/docs")
def page():
    spec = openapi.document(current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec)
    return render_template("api_docs.html", spec=spec, signing=webhook_signing)
