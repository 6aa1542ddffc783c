"""Slowing down password guessing at the login page, counted in Redis.

Counted per account (the email typed, whether or not it exists, so a lock tells nothing about
which logins exist) and per client address, in Redis so that every gateway process sees the
same counts. After `LOGIN_BACKOFF_AFTER` failures an account must wait before the next
attempt (1 s, then 2, 4, ... up to a minute); an attempt made while it should wait is refused
unchecked and counted as a failure. After `LOGIN_LOCK_AFTER` failures the account is locked for
`LOGIN_LOCK_S` — even the right password is refused, with a message saying so — and after
`LOGIN_ADDRESS_LOCK_AFTER` failures from one address, that address is. A success clears the
account's count. Operators list and lift locks (`kamflow login-locks`, `kamflow unlock-login`).

If Redis cannot be reached the attempt is allowed (and a warning logged): people logging in
matters more than counting them, and the KDF still makes each guess slow.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

import redis

from shared.config import Settings

log = logging.getLogger(__name__)

PREFIX = "kamflow-login"
MAX_BACKOFF_S = 60


@dataclasses.dataclass(frozen=True)
class Lock:
    """A locked account email or client address, and the seconds until it unlocks by itself."""

    kind: str  # "account" | "address"
    who: str
    seconds_left: int


def _key(kind: str, who: str, what: str) -> str:
    return f"{PREFIX}:{what}:{kind}:{who}"


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


class LoginThrottle:
    """The login page's failure counts and locks, in Redis (`client`); with no client every
    attempt is allowed and nothing is counted. Redis errors are logged, never raised."""

    def __init__(self, client: redis.Redis | None, settings: Settings):
        self.client = client
        self.settings = settings

    def refusal(self, email: str, address: str) -> tuple[str, str] | None:
        """(outcome, message) when this attempt may not even be checked, else None."""
        if self.client is None:
            return None
        try:
            return self._refusal(self.client, email, address)
        except redis.RedisError as error:
            log.warning("login throttling skipped, Redis unreachable: %s", error)
            return None

    def _refusal(self, client: redis.Redis, email: str, address: str) -> tuple[str, str] | None:
        account_lock = client.pttl(_key("account", email, "lock"))
        if account_lock > 0:
            return "locked", (
                f"Too many failed logins for this account: it is locked for the next "
                f"{_minutes(account_lock / 1000)}. Try again later, or ask an operator to lift the lock."
            )
        address_lock = client.pttl(_key("address", address, "lock"))
        if address_lock > 0:
            return "locked", (
                f"Too many failed logins from your network: logins from it are locked for the next "
                f"{_minutes(address_lock / 1000)}. Try again later, or ask an operator to lift the lock."
            )
        failures, last = client.hmget(_key("account", email, "failures"), "count", "last")
        over = int(failures or 0) - self.settings.login_backoff_after
        if over >= 0:
            wait = min(2**over, MAX_BACKOFF_S) - (time.time() - float(last or 0))
            if wait > 0:
                self.failed(email, address)
                return "throttled", (
                    f"Too many failed logins for this account: wait {math.ceil(wait)} seconds before trying again."
                )
        return None

    def failed(self, email: str, address: str) -> None:
        """Count a failed attempt against the email and the address; at LOGIN_LOCK_AFTER (account)
        or LOGIN_ADDRESS_LOCK_AFTER (address) failures, lock it for LOGIN_LOCK_S and reset its count.
        Counts expire LOGIN_LOCK_S after the last failure."""
        if self.client is None:
            return
        try:
            for kind, who, limit in (
                ("account", email, self.settings.login_lock_after),
                ("address", address, self.settings.login_address_lock_after),
            ):
                key = _key(kind, who, "failures")
                with self.client.pipeline() as pipe:
                    pipe.hincrby(key, "count", 1)
                    pipe.hset(key, "last", time.time())
                    pipe.expire(key, self.settings.login_lock_s)
                    count = pipe.execute()[0]
                if count >= limit:
                    self.client.set(_key(kind, who, "lock"), int(time.time()), ex=self.settings.login_lock_s)
                    self.client.delete(key)
                    log.warning("login locked for %s %s after %s failures", kind, who, count)
        except redis.RedisError as error:
            log.warning("login failure not counted, Redis unreachable: %s", error)

    def succeeded(self, email: str) -> None:
        """Clear the email's failure count (its lock, if any, stays until it ends or is lifted)."""
        if self.client is None:
            return
        try:
            self.client.delete(_key("account", email, "failures"))
        except redis.RedisError as error:
            log.warning("login success not recorded, Redis unreachable: %s", error)

    def locks(self) -> list[Lock]:
        """Every account and address locked now (none without Redis: nothing was counted)."""
        found: list[Lock] = []
        if self.client is None:
            return found
        for key in self.client.scan_iter(match=f"{PREFIX}:lock:*", count=1000):
            _, _, kind, who = key.decode().split(":", 3)
            left = self.client.ttl(key)
            if left > 0:
                found.append(Lock(kind, who, left))
        return sorted(found, key=lambda lock: (lock.kind, lock.who))

    def unlock(self, who: str) -> int:
        """Lift the lock (and clear the failures) of an account email or a client address;
        returns how many locks were lifted (none without Redis: nothing was locked)."""
        lifted = 0
        if self.client is None:
            return lifted
        for kind in ("account", "address"):
            lifted += self.client.delete(_key(kind, who, "lock"))
            self.client.delete(_key(kind, who, "failures"))
        return lifted
