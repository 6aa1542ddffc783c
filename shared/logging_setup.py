"""Logs that people and machines can read, and that never carry a secret.

`configure()` — one call at the start of each process (gateway, workers, `kamflow run`):
- LOG_FORMAT=json: one JSON object per line (time, level, logger, message, account_id, stage,
  exception), for a log pipeline; LOG_FORMAT=text (the default): readable lines for a terminal.
- every line logged while a stage message is processed carries its account id and stage: from
  the `extra` of the line, or else from the context `StageLogContext` sets for the message;
- the `peewee` logger never logs below INFO, whatever LOG_LEVEL says: its DEBUG lines are every
  SQL statement with its parameters — password hashes, webhook secrets, personal data;
- a redaction filter scrubs bearer tokens, `kf_` API tokens, `whsec_` webhook secrets, set-password link tokens,
  `password=` values and the password of URLs like smtp://user:pass@host, from the message,
  its arguments and any traceback. One logger is exempt: `kamflow.mail`, the dev mail catcher
  of `make run`, whose whole job is to show the caught email (set-password link included) on
  the console; it only runs when no SMTP_URL is set, never in production.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

from shared import workflow
from shared.config import settings_or_exit

#: Loggers whose lines are deliberately left as they are (see above).
UNREDACTED_LOGGERS = ("kamflow.mail",)
REDACTED = "[redacted]"

_PATTERNS = (
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"\bkf_[A-Za-z0-9_-]{6,}"), "kf_" + REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{6,}"), "whsec_" + REDACTED),
    (re.compile(r"(/set-password/)[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (
        re.compile(
            r"(?i)(\b(?:password|passwd|pwd|secret|secret_key|token|api_key)\b[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
)

_account_id: contextvars.ContextVar = contextvars.ContextVar("account_id", default=None)
_stage: contextvars.ContextVar = contextvars.ContextVar("stage", default=None)


def redact(text: str) -> str:
    """`text` with passwords, secrets, tokens and URL credentials replaced by REDACTED."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """Scrubs secrets from a record's message (arguments merged in) before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted text (arguments merged in, so a secret
        passed as an argument is caught too); always keeps the record. UNREDACTED_LOGGERS pass as is."""
        if record.name.startswith(UNREDACTED_LOGGERS):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, scrubbed
            message = f"{record.msg} {record.args}"
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class StageContext(logging.Filter):
    """Every record gets `account_id` and `stage`: its own `extra`, else the stage being run."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp the record with the account id and stage of the message being processed,
        unless the call gave them in `extra`; always keeps the record."""
        if getattr(record, "account_id", None) is None:
            record.account_id = _account_id.get()
        if getattr(record, "stage", None) is None:
            record.stage = _stage.get()
        return True


class StageLogContext(Middleware):
    """Sets the log context (account id, stage) while a stage message is processed, so lines
    logged without `extra` — by shared code, by Dramatiq's own middleware — carry it too.
    First in the middleware list: its "before" runs first and its "after" last."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        """Set the log context from a stage message (its first argument is the account id)."""
        if message.actor_name in workflow.STAGE_NAMES and message.args:
            _account_id.set(message.args[0])
            _stage.set(message.actor_name)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """Clear the log context, whatever the message's outcome."""
        _account_id.set(None)
        _stage.set(None)

    after_skip_message = after_process_message


class TextFormatter(logging.Formatter):
    """One line per record, `[account_id=.. stage=..]` after the logger name when known, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one text line (traceback lines follow when there is one), redacted except
        UNREDACTED_LOGGERS' records."""
        parts = [
            f"{key}={getattr(record, key)}" for key in ("account_id", "stage") if getattr(record, key, None) is not None
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        text = super().format(record)
        return text if record.name.startswith(UNREDACTED_LOGGERS) else redact(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (time, level, logger, message, account_id, stage, process,
    thread, exception), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON, redacted (except UNREDACTED_LOGGERS' records)."""
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "account_id": getattr(record, "account_id", None),
            "stage": getattr(record, "stage", None),
            "process": record.process,
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        text = json.dumps(entry, default=str)
        return text if record.name.startswith(UNREDACTED_LOGGERS) else redact(text)


def configure(log_format: str | None = None, level: str | int | None = None) -> None:
    """Format and filter every handler of the root logger (adding one if there is none, and
    reusing the dramatiq CLI's pipe to its parent when there is), and gunicorn's loggers'. The
    first thing each process does: a wrong setting stops it here, saying which."""
    settings = settings_or_exit()
    log_format = (log_format or settings.log_format).lower()
    level = level or settings.log_level.upper()
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    # SQL parameters carry password hashes, webhook secrets and personal data (see above).
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    handlers = list(root.handlers)
    for name in ("gunicorn.error", "gunicorn.access"):
        handlers += logging.getLogger(name).handlers
    for handler in handlers:
        if handler in root.handlers:
            handler.setFormatter(formatter)
        for kind in (StageContext, Redact):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
