"""Settings, read once from the environment (12-factor).

Every knob kamflow has is here, with a default that works on a laptop with nothing
installed. Production sets the environment; tests build a `Settings` directly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Where local state lives when nothing else is configured (SQLite file, embedded Redis, caught mail).
VAR_DIR = Path(os.environ.get("KAMFLOW_VAR_DIR", Path.cwd() / "var"))
#: Where `kamflow run` records the services it started (their URLs), for the `kamflow` commands
#: run beside it; removed when it stops.
RUN_FILE = VAR_DIR / "run.json"
#: The settings `kamflow run` records: what it started or chose, which a command needs to reach.
RECORDED = ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "BASE_URL")


def _boolean(raw: str) -> bool:
    """true/false, 1/0, yes/no, on/off; anything else is a mistake worth stopping for."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {raw!r} (use true or false)")


_CONVERTERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "bool": _boolean}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of kamflow with its default; immutable. Build it with `from_env` (the
    processes) or directly (tests). Raises ValueError when STALL_AFTER_S does not exceed the
    stage time limit plus the longest backoff (the reconciler would race live retries)."""

    database_url: str = f"sqlite:///{VAR_DIR / 'kamflow.db'}"
    redis_url: str = ""  # empty: `kamflow run` starts an embedded redis-server and fills this in
    smtp_url: str = ""  # empty: `kamflow run` starts a local mail catcher and fills this in
    mail_from: str = "noreply@optimization.energy"
    secret_key: str = ""
    #: Where people and CRMs reach kamflow: every absolute URL (API links, Location, emails,
    #: webhook payloads) is built from it, never from a request's Host header.
    base_url: str = "http://127.0.0.1:8000"
    #: Comma-separated host names the gateway answers to (others get 400); empty: any.
    trusted_hosts: str = ""

    # Workflow timing. A stage that raises is retried with exponential backoff between
    # min_backoff_ms and max_backoff_ms, at most max_retries times, then the account is `failed`.
    max_retries: int = 5
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 60_000
    stage_time_limit_ms: int = 60_000
    # The reconciler re-enqueues an account whose status has not moved for stall_after_s.
    # It must exceed one stage's time limit plus the longest backoff, or it would start a
    # second retry chain beside a live one (harmless, as stages are idempotent, but noisy).
    reconcile_interval_s: float = 15.0
    stall_after_s: float = 150.0
    # Redis broker housekeeping (see DESIGN.md and Bogdanp/dramatiq#527): how often a broker
    # command also runs maintenance (per million commands), and how long a silent worker is
    # presumed alive before its unacked messages are handed back.
    maintenance_chance: int = 10_000
    heartbeat_timeout_ms: int = 30_000

    set_password_ttl_hours: int = 72

    #: A demo account's trial lasts this many days from creation unless its markets' end dates say otherwise.
    trial_days: int = 30
    #: How often the workers' scheduler looks for due work: the daily maintenance (once a day) and
    #: the fixing-advice notices (for advice due on the next working day).
    schedule_interval_s: float = 60.0

    # Browser sessions: ended after this long without a request, and this long after login.
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    # Login throttling (shared.login_throttle): backoff after this many failures of an
    # account, a lock of LOGIN_LOCK_S after LOGIN_LOCK_AFTER, or after LOGIN_ADDRESS_LOCK_AFTER
    # failures from one client address.
    login_backoff_after: int = 3
    login_lock_after: int = 10
    login_address_lock_after: int = 50
    login_lock_s: int = 900

    #: Prometheus' bearer token for the gateway's /metrics (empty: only an operator's or manager's session gets in).
    metrics_token: str = ""

    #: `text` for people, `json` (one object per line) for a log pipeline; and the root log level.
    log_format: str = "text"
    log_level: str = "INFO"

    #: Requests per API token (the `limits` library's notation: "600 per minute", several with ";"),
    #: shared by all gateway processes.
    api_rate_limit: str = "600 per minute"
    #: API requests without a valid token, per client address (a new random token each time
    #: must not mean a new bucket each time).
    api_unauthenticated_rate_limit: str = "60 per minute"
    #: How many reverse proxies in front of the gateway set X-Forwarded-For/-Proto (0: none; the
    #: client address is the socket's). Set it exactly: trusting a header nobody strips lets a
    #: client choose its address.
    trusted_proxy_count: int = 0

    # Webhooks: retries of a receiver that is down, and when the reconciler tries again after.
    webhook_max_retries: int = 8
    webhook_min_backoff_ms: int = 1_000
    webhook_max_backoff_ms: int = 300_000
    webhook_stall_after_s: float = 900.0
    #: One deadline for a whole delivery: lookup, connect, TLS, sending, the answer's headers.
    webhook_timeout_s: float = 10.0
    #: Deliver to loopback/private addresses too. Only for tests and local development: in a
    #: shared deployment it lets a tenant make kamflow call into its own network.
    webhook_allow_private_networks: bool = False

    def __post_init__(self) -> None:
        floor = (self.stage_time_limit_ms + self.max_backoff_ms) / 1000
        if self.stall_after_s <= floor:
            raise ValueError(
                f"STALL_AFTER_S ({self.stall_after_s}) must exceed STAGE_TIME_LIMIT_MS + "
                f"MAX_BACKOFF_MS ({floor} s), or the reconciler would race live retries"
            )

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> Settings:
        """The settings of `env` (default os.environ): each field from its upper-case name,
        converted to the field's type; unset or empty names keep the default. Raises ValueError for
        a value that does not convert (a bad number, a boolean other than true/false, 1/0, yes/no,
        on/off) or breaks a rule of __post_init__."""
        env = os.environ if env is None else env
        values = {}
        for field in dataclasses.fields(cls):
            raw = env.get(field.name.upper())
            if raw is None or raw == "":
                continue
            convert = _CONVERTERS.get(str(field.type), str)  # the annotation's text: annotations are postponed
            values[field.name] = convert(raw)
        return cls(**values)

    @classmethod
    def from_env_or_run(cls, env: os._Environ | dict | None = None, run_file: Path | None = None) -> Settings:
        """The environment's settings, completed by what a running `kamflow run` recorded: so
        `kamflow status` beside `make run` finds its Redis. The environment always wins."""
        env = dict(os.environ if env is None else env)
        for name, value in recorded_run(run_file or RUN_FILE).items():
            if name in RECORDED and not env.get(name):
                env[name] = value
        return cls.from_env(env)

    @property
    def public_base_url(self) -> str:
        """BASE_URL without a trailing slash: what absolute URLs are built on."""
        return self.base_url.rstrip("/")

    @property
    def trusted_host_list(self) -> list[str]:
        """TRUSTED_HOSTS as a list of host names; empty when any host is accepted."""
        return [host.strip() for host in self.trusted_hosts.split(",") if host.strip()]

    def with_secret(self) -> Settings:
        """A copy with a secret key: a random one per process if none is configured (dev only)."""
        if self.secret_key:
            return self
        return dataclasses.replace(self, secret_key=secrets.token_hex(32))


def recorded_run(path: Path) -> dict:
    """What a `kamflow run` that is still running recorded in `path` ({} if none is)."""
    try:
        record = json.loads(path.read_text())
        os.kill(int(record["pid"]), 0)  # a record left by a run that was killed says nothing
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return record.get("settings") or {}
