"""The Dramatiq broker, set up once per process, and the one way to send a stage.

The gateway only ever *sends* (by actor name, without importing worker code); the workers
declare the actors on the same broker and consume. Retries, time limits and age limits are
Dramatiq's own middleware, configured here from the settings.
"""

from __future__ import annotations

import logging

import dramatiq
import redis
from dramatiq import Middleware
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

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
    return RedisBroker(
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
