"""Rate limits on the API (Flask-Limiter, counted in Redis so every gateway process shares the
count). A request with a valid token is counted per token (API_RATE_LIMIT); any other — no
token, a wrong or revoked one — per client address (API_UNAUTHENTICATED_RATE_LIMIT), so that
sending a new random token each time does not open a new bucket each time. The client
address is the connecting one, or the one a trusted proxy reports (TRUSTED_PROXY_COUNT).
Over a limit: 429 with Retry-After. If Redis is unreachable the limit is not enforced rather
than the API refused: accepting a request matters more than counting it."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter

from gateway.api.auth import bearer_token, caller_token
from shared import security


def token_key() -> str:
    """The caller's token (hashed: the raw token is never a storage key)."""
    return "token:" + security.token_digest(bearer_token() or "")


def address_key() -> str:
    return "address:" + (request.remote_addr or "unknown")


def authenticated() -> bool:
    return caller_token() is not None


def limit_blueprint(limiter: Limiter, blueprint, per_token: str, per_address: str) -> None:
    limiter.limit(per_token, key_func=token_key, exempt_when=lambda: not authenticated())(blueprint)
    limiter.limit(per_address, key_func=address_key, exempt_when=authenticated)(blueprint)


def make_limiter() -> Limiter:
    """One per app: Flask-Limiter keeps blueprint limits in the limiter, so a shared one would
    carry one app's limits over to the next."""
    # No rate-limit headers on every answer: a 429 says Retry-After itself (see create_app).
    return Limiter(key_func=token_key, headers_enabled=False, swallow_errors=True, strategy="fixed-window")
