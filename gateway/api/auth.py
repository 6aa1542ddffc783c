"""Bearer-token authentication for the API: tokens are stored hashed and scoped to an organisation."""

from __future__ import annotations

import datetime as dt

from flask import g, request
from flask_smorest import abort

from shared import organisations
from shared.models import ApiToken, utcnow


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer <token>`, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


_UNSET = object()

#: `last_used_at` (shown by `kamflow api-token list`) is written at most once a minute per token:
#: a write on every request was a tenth of the API's statements, and no one needs it finer.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def caller_token() -> ApiToken | None:
    """The live API token this request carries, looked up once per request (the rate limiter
    asks first, to count a valid token's requests per token and the rest per address)."""
    record = g.get("caller_token", _UNSET)
    if record is _UNSET:
        token = bearer_token()
        record = g.caller_token = organisations.live_api_token(token) if token else None
    return record


def authenticate() -> None:
    """`before_request` for API blueprints: sets g.organisation and g.api_token, or answers 401."""
    if bearer_token() is None:
        abort(401, message="Send your API token as 'Authorization: Bearer <token>'.")
    record = caller_token()
    if record is None:
        abort(401, message="This API token is not valid or has been revoked.")
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.update(last_used_at=now).where(ApiToken.id == record.id).execute()
    g.api_token = record
    g.organisation = record.organisation
