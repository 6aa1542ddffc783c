"""Bearer-token authentication for the API: tokens are stored hashed and scoped to an organisation."""

from __future__ import annotations

from flask import g, request
from flask_smorest import abort

from shared import security
from shared.models import ApiToken, Organisation, utcnow


def authenticate() -> None:
    """`before_request` for API blueprints: sets g.organisation and g.api_token, or answers 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, message="Send your API token as 'Authorization: Bearer <token>'.")
    record = (
        ApiToken.select(ApiToken, Organisation)
        .join(Organisation)
        .where((ApiToken.token_hash == security.token_digest(token.strip())) & (ApiToken.revoked_at.is_null()))
        .first()
    )
    if record is None:
        abort(401, message="This API token is not valid or has been revoked.")
    ApiToken.update(last_used_at=utcnow()).where(ApiToken.id == record.id).execute()
    g.api_token = record
    g.organisation = record.organisation
