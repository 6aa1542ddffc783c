"""Rate limits on the API (the `limits` library's fixed windows, counted in Redis so every
gateway process shares the count). A request with a valid token is counted per token
(API_RATE_LIMIT); any other — no token, a wrong or revoked one — per client address
(API_UNAUTHENTICATED_RATE_LIMIT), so that sending a new random token each time does not open a
new bucket each time. Each endpoint has its own bucket. The client address is the connecting
one, or the one a trusted proxy reports (TRUSTED_PROXY_COUNT); an IPv6 client is counted by its
/64 network (shared.client_address). Over a limit: 429 with
Retry-After. If Redis is unreachable the limit is not enforced rather than the API refused:
accepting a request matters more than counting it.

The check is this module's, not Flask-Limiter's, with the same counters (keys, windows, the
first limit refused ends the count) and the same answers: Flask-Limiter resolved which limits
apply, their exemptions and its request context anew on every request, a twelfth of the
gateway's time on a POST, for two limits that are known when the app is made."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, g, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from gateway.api.auth import bearer_token, caller_token
from shared import client_address, security

log = logging.getLogger(__name__)

#: How long a count waits for Redis before the request goes on uncounted.
REDIS_TIMEOUT_S = 2

#: The first part of every counter's key (tests and operators find the counters by it).
KEY_PREFIX = "kamflow-ratelimit"


def token_key() -> str:
    """The caller's token (hashed: the raw token is never a storage key)."""
    return "token:" + security.token_digest(bearer_token() or "")


def address_key() -> str:
    return "address:" + client_address.counted_as(request.remote_addr)


def authenticated() -> bool:
    return caller_token() is not None


@dataclass(frozen=True)
class Refusal:
    """The limit a request went over, and when its window ends (for Retry-After)."""

    limit: RateLimitItem
    reset_at: int


class ApiRateLimits:
    """The API's two limits, checked before any other work on the request (`before_request`)."""

    def __init__(self, storage_uri: str, per_token: str, per_address: str):
        # Redis that stops answering (a frozen server, packets dropped) waits the socket
        # timeout, then the limit is not enforced: bounded here, not left to the client
        # library's default (none before redis-py 8, 5 s since), as the login throttle's.
        timeouts = {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S}
        self.window = FixedWindowRateLimiter(
            storage_from_string(storage_uri, **(timeouts if storage_uri.startswith("redis") else {}))
        )
        # Shortest window first; the first one refused ends the count, as Flask-Limiter did.
        self.per_token = sorted(parse_many(per_token))
        self.per_address = sorted(parse_many(per_address))
        self.blueprints: set[str] = set()

    def init_app(self, app: Flask, blueprints) -> None:
        self.blueprints = {blueprint.name for blueprint in blueprints}
        app.before_request(self.check)

    def check(self) -> None:
        """Count this request in its bucket; 429 (TooManyRequests, its description the limit,
        as "600 per 1 minute") when that makes it one too many."""
        endpoint = request.endpoint
        if not endpoint or request.blueprint not in self.blueprints:
            return  # no route (a 404 or 405 is answered as such) or not the API
        try:
            if authenticated():
                limits, identifiers = self.per_token, (KEY_PREFIX, token_key(), endpoint)
            else:
                limits, identifiers = self.per_address, (KEY_PREFIX, address_key(), endpoint)
            for limit in limits:
                if not self.window.hit(limit, *identifiers):
                    reset_time = self.window.get_window_stats(limit, *identifiers).reset_time
                    g.rate_limit_refusal = Refusal(limit, int(reset_time + 1))
                    break
            else:
                return
        except Exception:
            log.exception("Failed to rate limit. Swallowing error")
            return
        raise TooManyRequests(description=str(g.rate_limit_refusal.limit))

    @staticmethod
    def refusal() -> Refusal | None:
        """The limit this request went over, if any (the 429 handler's Retry-After)."""
        return g.get("rate_limit_refusal")
