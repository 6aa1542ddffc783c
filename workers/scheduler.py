"""Middleware: the workers' scheduler, a periodic thread in every worker process that runs the
jobs due by the calendar — the daily maintenance (shared.maintenance, once a day) and the
fixing-advice notices (shared.optimisations.notifications, for advice due on the next working
day). One pass at a time across processes and hosts, under a short Redis lock; each job is
idempotent besides, so a pass repeated by accident changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from shared import mail, maintenance
from shared.config import Settings
from shared.db import database
from shared.optimisations import notifications
from workers.periodic import PeriodicThread

log = logging.getLogger(__name__)

LOCK_KEY = "kamflow:scheduler:lock"


class Scheduler(PeriodicThread):
    thread_name = "scheduler"

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def interval_s(self) -> float:
        return self.settings.schedule_interval_s

    def tick(self, broker) -> None:
        self.run_once(broker, dt.date.today())

    def run_once(self, broker, today: dt.date) -> dict:
        lock_ms = max(int(self.settings.schedule_interval_s * 1000 * 0.9), 100)
        if not broker.client.set(LOCK_KEY, "1", nx=True, px=lock_ms):
            return {}
        try:
            with database.connection_context():
                run = maintenance.run_daily(today, self.settings.trial_days)
                if run is not None:
                    log.info("daily maintenance %s: %s", run.day, run.summary)
                sent = notifications.send_due(self.settings, today)
        finally:
            mail.close_kept()  # the notices come in a batch a tick: no connection idles till the next
        if sent:
            log.info("%d fixing-advice notice(s) sent", sent)
        return {"maintenance": run.summary if run else None, "notices": sent}
