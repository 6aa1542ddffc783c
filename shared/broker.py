"""The Dramatiq broker, set up once per process, and the one way to send a stage.

The gateway only ever *sends* (by actor name, without importing worker code); the workers
declare the actors on the same broker and consume. Retries, time limits and age limits are
Dramatiq's own middleware, configured here from the settings.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from dramatiq import Middleware
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit
from dramatiq.middleware.middleware import MiddlewareError

from shared.config import Settings

log = logging.getLogger(__name__)

#: Messages older than this are dropped by AgeLimit; the reconciler re-sends what is still due.
MAX_MESSAGE_AGE_MS = 24 * 3600 * 1000

#: The longest a worker's consumer sleeps between two polls of an empty queue. Dramatiq's (1 s,
#: doubling from 5 ms after each empty poll) let each stage of an account wait up to a second
#: for a worker to see it when traffic is light: four stages added seconds to `active`. Polling
#: an idle queue ten times a second costs Redis next to nothing.
IDLE_POLL_MS = 100


class IdlePoll(Middleware):
    """Caps the worker's idle timeout at `IDLE_POLL_MS` before its consumers are made."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        worker.worker_timeout = min(worker.worker_timeout, IDLE_POLL_MS)


class SignalledRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, each signal sent only to the middleware that handle it.

    Dramatiq calls every middleware's hook for each signal, the inherited no-ops too: with a
    worker's sixteen middleware that is about a hundred calls per stage message, for the dozen
    hooks that do something, a twentieth of a worker's time in a profile of the drain. Who
    handles a signal is worked out once (again whenever the middleware list changes); the order
    (reversed for "after" signals), the errors let through and the errors logged are Dramatiq's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handlers: dict[str, list[tuple[Middleware, Any]]] = {}
        self._handlers_of: list[Middleware] = []
        super().__init__(*args, **kwargs)

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "before_" + signal
        for middleware, handler in self._handlers_for(hook):
            try:
                handler(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", hook, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "after_" + signal
        for middleware, handler in self._handlers_for(hook):
            try:
                handler(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", hook, middleware, exc_info=True)

    def _handlers_for(self, hook: str) -> list[tuple[Middleware, Any]]:
        if self._handlers_of != self.middleware:
            self._handlers, self._handlers_of = {}, list(self.middleware)
        handlers = self._handlers.get(hook)
        if handlers is None:
            ordered = self.middleware if hook.startswith("before_") else list(reversed(self.middleware))
            handlers = self._handlers[hook] = [(m, getattr(m, hook, None)) for m in ordered if _handles(m, hook)]
        return handlers


def _handles(middleware: Middleware, hook: str) -> bool:
    """Whether `middleware` does something on `hook`: its own method, not Middleware's no-op (a
    hook Middleware lacks is called, and fails, as Dramatiq would)."""
    inherited = getattr(Middleware, hook, None)
    return inherited is None or hook in vars(middleware) or getattr(type(middleware), hook, None) is not inherited


def make_broker(settings: Settings) -> RedisBroker:
    """A Redis broker for `settings.redis_url` with kamflow's middleware: message age limit,
    the stage time limit, shutdown notices and retries with backoff (max_retries, min/max backoff
    from settings). Its socket timeouts are bounded so a send with Redis down
    fails in seconds instead of hanging. Does not make it the process-wide broker (see setup)."""
    middleware = [
        AgeLimit(max_age=MAX_MESSAGE_AGE_MS),
        TimeLimit(time_limit=settings.stage_time_limit_ms),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.max_retries,
            min_backoff=settings.min_backoff_ms,
            max_backoff=settings.max_backoff_ms,
        ),
        IdlePoll(),
    ]
    # Bounded socket timeouts: with Redis unreachable, the gateway must answer (the account
    # stays pending for the reconciler) rather than hang on a send.
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=10)
    return SignalledRedisBroker(
        client=client,
        middleware=middleware,
        maintenance_chance=settings.maintenance_chance,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
    )


def setup(settings: Settings) -> RedisBroker:
    """Make the process-wide broker (the one actors declare themselves on)."""
    broker = make_broker(settings)
    dramatiq.set_broker(broker)
    return broker


def send(actor_name: str, *args: object) -> None:
    """Enqueue a message for `actor_name` (whose queue has the same name), by name only: the
    sender needs no worker code."""
    message: dramatiq.Message[object] = dramatiq.Message(
        queue_name=actor_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    dramatiq.get_broker().enqueue(message)


def send_stage(stage_name: str, account_id: int) -> None:
    """Enqueue the stage `stage_name` for the account, on the queue of that name. Raises the
    broker's connection error when Redis is unreachable (callers leave it to the reconciler)."""
    send(stage_name, account_id)
