"""Settings, read once from the environment (12-factor).

Every knob kamflow has is here, with a default that works on a laptop with nothing
installed. Production sets the environment; tests build a `Settings` directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

#: Where local state lives when nothing else is configured (SQLite file, embedded Redis, caught mail).
VAR_DIR = Path(os.environ.get("KAMFLOW_VAR_DIR", Path.cwd() / "var"))
#: Where `kamflow run` records the services it started (their URLs), for the `kamflow` commands
#: run beside it; removed when it stops.
RUN_FILE = VAR_DIR / "run.json"
#: The settings `kamflow run` records: what it started or chose, which a command needs to reach.
RECORDED = ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "BASE_URL")


class SettingsError(ValueError):
    """A setting kamflow cannot run with. Its message names the environment variable, the value
    and what would do, so that a process stops at start-up with one line an operator can act on
    (not a traceback, nor a stage failing hours later on the first email)."""


def _boolean(raw: str) -> bool:
    """true/false, 1/0, yes/no, on/off; anything else is a mistake worth stopping for."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a yes/no value (use true or false)")


def _whole(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError("not a whole number") from None


def _number(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


_CONVERTERS: dict[str, Callable[[str], Any]] = {"int": _whole, "float": _number, "bool": _boolean}

#: Numeric settings for which 0 means something (no retries, no proxy, no pause, no trial);
#: every other one counts a time or a size that must be more than 0. None may be negative.
_MAY_BE_ZERO = frozenset(
    {
        "max_retries",
        "min_backoff_ms",
        "maintenance_chance",
        "trial_days",
        "login_backoff_after",
        "trusted_proxy_count",
        "webhook_max_retries",
        "webhook_min_backoff_ms",
    }
)
LOG_FORMATS = ("text", "json")
#: The URL schemes each URL setting's client speaks (shared.db, the redis client, shared.mail).
_URL_SCHEMES = {
    "database_url": ("sqlite", "postgres", "postgresql"),
    "redis_url": ("redis", "rediss", "unix"),
    "smtp_url": ("smtp", "smtps", "smtp+starttls"),
    "base_url": ("http", "https"),
}


def _problems(settings: Settings) -> list[str]:
    """What is wrong with each setting of `settings`, one line each naming its variable."""
    problems = []
    for field in dataclasses.fields(settings):
        value, name = getattr(settings, field.name), field.name.upper()
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            problems.append(f"{name}={value!r}: not a finite number")
        elif value < 0 or (value == 0 and field.name not in _MAY_BE_ZERO):
            problems.append(f"{name}={value!r}: must be {'0 or more' if field.name in _MAY_BE_ZERO else 'more than 0'}")
    if settings.log_format.lower() not in LOG_FORMATS:
        problems.append(f"LOG_FORMAT={settings.log_format!r}: use text or json")
    if not isinstance(logging.getLevelNamesMapping().get(settings.log_level.upper()), int):
        problems.append(f"LOG_LEVEL={settings.log_level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    for setting in ("api_rate_limit", "api_unauthenticated_rate_limit"):
        limit = getattr(settings, setting)
        try:
            parse_many(limit)
        except ValueError:
            problems.append(f'{setting.upper()}={limit!r}: write it as "600 per minute" (several with ";")')
    for setting, schemes in _URL_SCHEMES.items():
        url = getattr(settings, setting)
        if url:
            problems += [f"{setting.upper()}: {reason}" for reason in _url_problems(url, schemes)]
    return problems


def _url_problems(url: str, schemes: tuple[str, ...]) -> list[str]:
    """Why `url` is not one of `schemes`' URLs with a readable port (nothing if it is). The value
    itself is not repeated: it may carry a password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here, not on first use)
    except ValueError:
        return ["its port is not a number from 0 to 65535"]
    if parts.scheme not in schemes:
        return [
            f"the scheme {parts.scheme + ':' if parts.scheme else '(none)'} is not one of {', '.join(s + ':' for s in schemes)}"
        ]
    if parts.scheme in ("http", "https") and not parts.hostname:
        return ["no host name"]
    if parts.scheme == "sqlite" and not url.startswith("sqlite:///"):
        return ["write sqlite:///path/to/kamflow.db (three slashes, then the file's path)"]
    return []


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
        """Raises SettingsError naming every setting that is wrong (not only the first)."""
        problems = _problems(self)
        floor = (self.stage_time_limit_ms + self.max_backoff_ms) / 1000
        if self.stall_after_s <= floor:
            problems.append(
                f"STALL_AFTER_S ({self.stall_after_s}) must exceed STAGE_TIME_LIMIT_MS + "
                f"MAX_BACKOFF_MS ({floor} s), or the reconciler would race live retries"
            )
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> Settings:
        """The settings of `env` (default os.environ): each field from its upper-case name,
        converted to the field's type; unset or empty names keep the default. Raises SettingsError
        naming each variable whose value does not convert (a bad number, a boolean other than
        true/false, 1/0, yes/no, on/off) or breaks a rule of __post_init__."""
        env = os.environ if env is None else env
        values, problems = {}, []
        for field in dataclasses.fields(cls):
            raw = env.get(field.name.upper())
            if raw is None or raw == "":
                continue
            convert = _CONVERTERS.get(str(field.type), str)  # the annotation's text: annotations are postponed
            try:
                values[field.name] = convert(raw)
            except ValueError as error:
                problems.append(f"{field.name.upper()}={raw!r}: {error}")
        try:
            settings = cls(**values)  # the others' rules too: every mistake named at once
        except SettingsError as error:
            problems.append(str(error))
        if problems:
            raise SettingsError("; ".join(problems))
        return settings

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


def positive_number(raw: str) -> float:
    """An option of a health check (seconds, a count): a finite number more than 0, or
    argparse's usage error saying so (NaN, infinity or a negative was a traceback further on)."""
    try:
        value = _number(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{raw!r}: {error}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw!r}: must be more than 0")
    return value


def settings_or_exit(env: os._Environ | dict | None = None) -> Settings:
    """`Settings.from_env(env)` for a process starting (gateway, workers, `kamflow` commands):
    a setting it cannot run with stops it with one line saying which and why (exit status 1)."""
    try:
        return Settings.from_env(env)
    except SettingsError as error:
        raise SystemExit(f"kamflow cannot start, a setting is wrong: {error}") from None


def recorded_run(path: Path) -> dict:
    """What a `kamflow run` that is still running recorded in `path` ({} if none is)."""
    try:
        record = json.loads(path.read_text())
        os.kill(int(record["pid"]), 0)  # a record left by a run that was killed says nothing
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return record.get("settings") or {}
