"""Worker metrics for Prometheus: Dramatiq's own (messages, errors, retries, dead letters,
durations, in progress) and kamflow's `kamflow_accounts_final_total{status}` — accounts reaching
active, rejected or failed.

Dramatiq's Prometheus middleware keeps its samples in multiprocess files (dramatiq_prom_db) and
the `dramatiq` CLI forks an exporter serving them on dramatiq_prom_host:dramatiq_prom_port
(default 0.0.0.0:9191). Its hooks need the process booted by the CLI, so only the CLI's entry
(workers.main) asks `workers.boot(settings, exporter=True)` for them; in-process workers (the
tests' `dramatiq.Worker`) never boot a process and have no exporter.

prometheus_client must not be imported before process boot: it picks single- or multi-process
storage at import time, from PROMETHEUS_MULTIPROC_DIR, which boot sets.
"""

from __future__ import annotations

import os

from dramatiq import Middleware
from dramatiq.middleware import prometheus

from shared import workflow


class FinalStatusMetrics(Middleware):
    """Creates the counter of accounts reaching a final status once the process is booted.

    It is counted where the arrival happens, by `count_final` (called by the stage actor and by
    RecordGiveUps when their conditional UPDATE moved the account: only one delivery of a
    message can win it, so an arrival is counted once) — no reading of the account before and
    after each message, no Redis key per message."""

    def after_process_boot(self, broker):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prometheus.DB_PATH
        import prometheus_client as prom

        counter = prom.Counter(
            "kamflow_accounts_final",
            "Customer accounts reaching a final status (active, rejected, failed).",
            ["status"],
            registry=prom.CollectorRegistry(),
        )
        for status in sorted(workflow.FINAL_STATUSES):
            counter.labels(status)  # exported at 0 from the start, so rate() works
        _final_counter[0] = counter


#: The booted process's counter; None in processes the dramatiq CLI did not boot.
_final_counter: list = [None]


def count_final(status: str) -> None:
    """The account just reached `status` (final), moved by this process."""
    if _final_counter[0] is not None:
        _final_counter[0].labels(status).inc()


def add_metrics(broker) -> None:
    """Put Dramatiq's stock exporter and the final-status counter on a broker the dramatiq CLI
    boots (see workers.boot)."""
    broker.add_middleware(prometheus.Prometheus())
    broker.add_middleware(FinalStatusMetrics())
