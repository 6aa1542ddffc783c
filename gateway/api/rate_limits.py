"""Per-token rate limits on the API (Flask-Limiter, counted in Redis so every gateway process
shares the count). Over the limit: 429 with Retry-After. If Redis is unreachable the limit is
not enforced rather than the API refused: accepting a request matters more than counting it."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter

from shared import security


def token_key() -> str:
    """The caller's token (hashed: the raw token is never a storage key)."""
    header = request.headers.get("Authorization", "")
    return "token:" + security.token_digest(header.partition(" ")[2].strip())


def make_limiter() -> Limiter:
    """One per app: Flask-Limiter keeps blueprint limits in the limiter, so a shared one would
    carry one app's limits over to the next."""
    # No rate-limit headers on every answer: a 429 says Retry-After itself (see create_app).
    return Limiter(key_func=token_key, headers_enabled=False, swallow_errors=True, strategy="fixed-window")
