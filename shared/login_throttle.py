"""Slowing down password guessing at the login page, counted in Redis.

Counted per account (the email typed, whether or not it exists, so a lock tells nothing about
which logins exist) and per client address (an IPv6 client by its /64 network: the caller passes
`shared.client_address.counted_as`), in Redis so that every gateway process sees the
same counts. Each attempt is counted before its password is checked, in one step in Redis, so
that guesses sent at once are throttled as if sent one after another; a success takes its count
back. After `LOGIN_BACKOFF_AFTER` failures an account must wait before the next
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


#: Counts an attempt before its password is checked, in one step, so that guesses sent at once
#: are each counted before any of them is checked: checking first and counting after a failure
#: let forty parallel guesses all through the backoff. KEYS: the account's lock, the address's
#: lock, the account's failures, the address's failures. ARGV: now (s), LOGIN_BACKOFF_AFTER,
#: MAX_BACKOFF_S, LOGIN_LOCK_AFTER, LOGIN_ADDRESS_LOCK_AFTER, LOGIN_LOCK_S. Returns
#: {verdict, milliseconds}: "allowed" (counted; a success takes it back), "locked-account" and
#: "locked-address" (not counted: the lock already holds), "throttled" (counted, and locking the
#: account or the address when it reaches its limit).
_CLAIM = """
local now = tonumber(ARGV[1])
local account_lock = redis.call('pttl', KEYS[1])
if account_lock > 0 then return {'locked-account', account_lock} end
local address_lock = redis.call('pttl', KEYS[2])
if address_lock > 0 then return {'locked-address', address_lock} end
local count = tonumber(redis.call('hget', KEYS[3], 'count') or '0')
local last = tonumber(redis.call('hget', KEYS[3], 'last') or '0')
local address_count = tonumber(redis.call('hget', KEYS[4], 'count') or '0')
local lock_ms = tonumber(ARGV[6]) * 1000
if count >= tonumber(ARGV[4]) then
  redis.call('set', KEYS[1], now, 'PX', lock_ms)
  redis.call('del', KEYS[3])
  return {'locked-account', lock_ms}
end
if address_count >= tonumber(ARGV[5]) then
  redis.call('set', KEYS[2], now, 'PX', lock_ms)
  redis.call('del', KEYS[4])
  return {'locked-address', lock_ms}
end
local wait_ms = 0
local over = count - tonumber(ARGV[2])
if over >= 0 then
  wait_ms = math.floor((math.min(2 ^ over, tonumber(ARGV[3])) - (now - last)) * 1000)
end
count = redis.call('hincrby', KEYS[3], 'count', 1)
redis.call('hset', KEYS[3], 'last', ARGV[1])
redis.call('expire', KEYS[3], ARGV[6])
address_count = redis.call('hincrby', KEYS[4], 'count', 1)
redis.call('expire', KEYS[4], ARGV[6])
if wait_ms <= 0 then return {'allowed', 0} end
if count >= tonumber(ARGV[4]) then
  redis.call('set', KEYS[1], now, 'PX', lock_ms)
  redis.call('del', KEYS[3])
end
if address_count >= tonumber(ARGV[5]) then
  redis.call('set', KEYS[2], now, 'PX', lock_ms)
  redis.call('del', KEYS[4])
end
return {'throttled', wait_ms}
"""

#: A failed attempt (already counted when it was claimed) locks what has reached its limit.
#: KEYS: account lock, address lock, account failures, address failures. ARGV: now (s),
#: LOGIN_LOCK_AFTER, LOGIN_ADDRESS_LOCK_AFTER, LOGIN_LOCK_S. Returns which were locked.
_FAILED = """
local locked = {}
local limits = {tonumber(ARGV[2]), tonumber(ARGV[3])}
for i = 1, 2 do
  local count = tonumber(redis.call('hget', KEYS[i + 2], 'count') or '0')
  if count >= limits[i] then
    redis.call('set', KEYS[i], ARGV[1], 'EX', ARGV[4])
    redis.call('del', KEYS[i + 2])
    table.insert(locked, i)
  end
end
return locked
"""

#: A successful attempt: the account's failures are cleared, and the address's count gives
#: back the attempt it was charged when claimed (a busy office's logins never lock it).
_SUCCEEDED = """
redis.call('del', KEYS[1])
if tonumber(redis.call('hget', KEYS[2], 'count') or '0') > 0 then
  redis.call('hincrby', KEYS[2], 'count', -1)
end
"""


class LoginThrottle:
    """The login page's failure counts and locks, in Redis (`client`); with no client every
    attempt is allowed and nothing is counted. Redis errors are logged, never raised.

    An attempt is claimed (`claim`, counted as a failure) before its password is checked, then
    settled (`failed` or `succeeded`)."""

    def __init__(self, client: redis.Redis | None, settings: Settings):
        self.client = client
        self.settings = settings
        if client is not None:
            self._claim = client.register_script(_CLAIM)
            self._failed = client.register_script(_FAILED)
            self._succeeded = client.register_script(_SUCCEEDED)

    @staticmethod
    def _keys(email: str, address: str) -> list[str]:
        return [
            _key("account", email, "lock"),
            _key("address", address, "lock"),
            _key("account", email, "failures"),
            _key("address", address, "failures"),
        ]

    def claim(self, email: str, address: str) -> tuple[str, str] | None:
        """Count this attempt; (outcome, message) when it may not even be checked, else None
        (check the password, then call `failed` or `succeeded`)."""
        if self.client is None:
            return None
        settings = self.settings
        try:
            verdict, milliseconds = self._claim(
                keys=self._keys(email, address),
                args=[
                    repr(time.time()),
                    settings.login_backoff_after,
                    MAX_BACKOFF_S,
                    settings.login_lock_after,
                    settings.login_address_lock_after,
                    settings.login_lock_s,
                ],
            )
        except redis.RedisError as error:
            log.warning("login throttling skipped, Redis unreachable: %s", error)
            return None
        verdict, seconds = verdict.decode(), int(milliseconds) / 1000
        if verdict == "locked-account":
            return "locked", (
                f"Too many failed logins for this account: it is locked for the next "
                f"{_minutes(seconds)}. Try again later, or ask an operator to lift the lock."
            )
        if verdict == "locked-address":
            return "locked", (
                f"Too many failed logins from your network: logins from it are locked for the next "
                f"{_minutes(seconds)}. Try again later, or ask an operator to lift the lock."
            )
        if verdict == "throttled":
            return "throttled", (
                f"Too many failed logins for this account: wait {math.ceil(seconds)} seconds before trying again."
            )
        return None

    def failed(self, email: str, address: str) -> None:
        """The claimed attempt failed: at LOGIN_LOCK_AFTER failures of the account or
        LOGIN_ADDRESS_LOCK_AFTER of the address, lock it for LOGIN_LOCK_S and reset its count.
        Counts expire LOGIN_LOCK_S after the last attempt."""
        if self.client is None:
            return
        settings = self.settings
        try:
            locked = self._failed(
                keys=self._keys(email, address),
                args=[
                    int(time.time()),
                    settings.login_lock_after,
                    settings.login_address_lock_after,
                    settings.login_lock_s,
                ],
            )
        except redis.RedisError as error:
            log.warning("login failure not counted, Redis unreachable: %s", error)
            return
        for which in locked:
            kind, who = ("account", email) if which == 1 else ("address", address)
            log.warning("login locked for %s %s after too many failures", kind, who)

    def succeeded(self, email: str, address: str) -> None:
        """The claimed attempt succeeded: clear the email's failure count and give the address
        back its attempt (a lock, if any, stays until it ends or is lifted)."""
        if self.client is None:
            return
        try:
            self._succeeded(keys=[_key("account", email, "failures"), _key("address", address, "failures")])
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
