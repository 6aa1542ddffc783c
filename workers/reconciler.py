"""Middleware: a periodic reconciler thread in every worker process (re-sends stalled accounts
and webhook deliveries, forgets expired idempotency keys, samples the queue depths for /ops).

One pass at a time across all processes and hosts: a pass first takes a short Redis lock, so
scaling workers out does not multiply the re-sends.
"""

from __future__ import annotations

import logging
import threading

from dramatiq import Middleware

from shared import broker as broker_setup
from shared import idempotency, observability, reconcile, trends, webhooks
from shared.db import database
from shared.config import Settings

log = logging.getLogger(__name__)

LOCK_KEY = "kamflow:reconciler:lock"


class Reconciler(Middleware):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        self.stopped.clear()
        self.thread = threading.Thread(target=self._loop, args=(broker,), name="reconciler", daemon=True)
        self.thread.start()

    def before_worker_shutdown(self, broker, worker):
        self.stopped.set()
        if self.thread:
            self.thread.join(timeout=10)

    def _loop(self, broker) -> None:
        interval = self.settings.reconcile_interval_s
        while not self.stopped.wait(interval):
            try:
                self.run_once(broker)
            except Exception as error:  # Redis or the database away: try again next tick
                log.warning("reconciler pass skipped: %s", error)

    def run_once(self, broker) -> int:
        lock_ms = max(int(self.settings.reconcile_interval_s * 1000 * 0.9), 100)
        if not broker.client.set(LOCK_KEY, "1", nx=True, px=lock_ms):
            return 0
        trends.record_queue_depths(broker.client, observability.queue_depths(broker.client))  # /ops' chart
        resent = reconcile.reconcile(self.settings.stall_after_s, broker_setup.send_stage)
        if resent:
            log.info("reconciler re-sent %d stalled account(s)", resent)
        with database.connection_context():
            endpoints = webhooks.stalled_endpoints(self.settings.webhook_stall_after_s)
            idempotency.purge_expired()  # keys are kept KEY_TTL (24 h), then forgotten
        webhooks.wake(endpoints)
        return resent
