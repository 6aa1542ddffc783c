"""Worker metrics for Prometheus: Dramatiq's own (messages, errors, retries, dead letters,
durations, in progress) and kamflow's `kamflow_accounts_final_total{status}` — accounts reaching
active, rejected or failed.

Dramatiq's Prometheus middleware keeps its samples in multiprocess files (dramatiq_prom_db) and
the `dramatiq` CLI forks an exporter serving them on dramatiq_prom_host:dramatiq_prom_port
(default 0.0.0.0:9191). Its metrics only exist once the CLI has booted the process; in-process
workers (the tests' `dramatiq.Worker`) never do, so here it stays inert until then.

prometheus_client must not be imported before process boot: it picks single- or multi-process
storage at import time, from PROMETHEUS_MULTIPROC_DIR, which boot sets.
"""

from __future__ import annotations

import logging
import os

from dramatiq import Middleware
from dramatiq.middleware import prometheus

from shared import workflow
from shared.db import database
from shared.models import CustomerAccount

log = logging.getLogger(__name__)

#: A final status is counted once per arrival, even if two deliveries of a message both see it.
COUNTED_KEY = "kamflow:final-counted:{account_id}:{status}:{at}"
COUNTED_TTL_S = 24 * 3600


class Prometheus(prometheus.Prometheus):
    """Dramatiq's exporter, inert in processes the dramatiq CLI did not boot."""

    booted = False

    def after_process_boot(self, broker):
        super().after_process_boot(broker)
        self.booted = True


def _only_when_booted(name):
    hook = getattr(prometheus.Prometheus, name)

    def guarded(self, *args, **kwargs):
        if self.booted:
            return hook(self, *args, **kwargs)

    guarded.__name__ = name
    return guarded


for _hook in ("after_nack", "after_enqueue", "before_delay_message", "before_process_message",
              "after_process_message", "after_skip_message", "after_worker_shutdown"):
    setattr(Prometheus, _hook, _only_when_booted(_hook))


def _status(account_id) -> tuple[str, str] | None:
    with database.connection_context():
        row = (CustomerAccount.select(CustomerAccount.status, CustomerAccount.updated_at)
               .where(CustomerAccount.id == account_id).tuples().first())
    return (row[0], str(row[1])) if row else None


def reached_final(before: str | None, after: str | None) -> bool:
    """Did the message move the account into a final status?"""
    return after in workflow.FINAL_STATUSES and before != after


class FinalStatusMetrics(Middleware):
    """Counts accounts reaching a final status, by looking at the account before and after each
    stage message. Placed before RecordGiveUps in the middleware list, its "after" hook runs
    after RecordGiveUps has marked a give-up `failed`."""

    def __init__(self):
        self.counter = None
        self.before: dict[str, str | None] = {}

    def after_process_boot(self, broker):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prometheus.DB_PATH
        import prometheus_client as prom

        self.counter = prom.Counter(
            "kamflow_accounts_final", "Customer accounts reaching a final status (active, rejected, failed).",
            ["status"], registry=prom.CollectorRegistry(),
        )
        for status in sorted(workflow.FINAL_STATUSES):
            self.counter.labels(status)  # exported at 0 from the start, so rate() works

    def before_process_message(self, broker, message):
        if self.counter is None or message.actor_name not in workflow.STAGE_NAMES or not message.args:
            return
        found = _status(message.args[0])
        self.before[message.message_id] = found[0] if found else None

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if message.message_id not in self.before:
            return
        before = self.before.pop(message.message_id)
        found = _status(message.args[0])
        if found is None or not reached_final(before, found[0]):
            return
        status, at = found
        key = COUNTED_KEY.format(account_id=message.args[0], status=status, at=at)
        if broker.client.set(key, "1", nx=True, ex=COUNTED_TTL_S):
            self.counter.labels(status).inc()

    after_skip_message = after_process_message


def add_metrics(broker) -> None:
    """Put both middlewares on the workers' broker (see workers.boot)."""
    from workers.failures import RecordGiveUps

    broker.add_middleware(Prometheus())
    broker.add_middleware(FinalStatusMetrics(), before=RecordGiveUps)
