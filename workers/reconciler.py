"""Middleware: a periodic reconciler thread in every worker process (re-sends stalled accounts
and webhook deliveries, forgets expired idempotency keys and obsolete dead letters, samples the queue
depths for /ops).

One pass at a time across all processes and hosts: a pass first takes a short Redis lock, so
scaling workers out does not multiply the re-sends.
"""

from __future__ import annotations

import logging

from shared import broker as broker_setup
from shared import dead_letters, idempotency, observability, reconcile, trends, webhooks
from shared.config import Settings
from shared.db import database
from workers.periodic import PeriodicThread

log = logging.getLogger(__name__)

LOCK_KEY = "kamflow:reconciler:lock"


class Reconciler(PeriodicThread):
    thread_name = "reconciler"

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def interval_s(self) -> float:
        return self.settings.reconcile_interval_s

    def tick(self, broker) -> None:
        self.run_once(broker)

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
            dead_letters.discard_obsolete(broker.client)  # of accounts retried while Redis was down
        webhooks.wake(endpoints)
        return resent
