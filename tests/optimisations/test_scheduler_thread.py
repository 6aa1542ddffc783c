"""The workers' scheduler thread, with a fast tick: it runs the daily maintenance once a day
however many ticks pass, and the run shows on /ops."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from support import make_settings
from web.kam_browser import Browser, text_of

from shared import db
from shared.models import MaintenanceRun

TODAY = dt.date.today()


@pytest.fixture
def settings(database_url, redis_url, smtp_server):
    return make_settings(database_url, redis_url, smtp_server.url, schedule_interval_s=0.3)


def test_the_workers_scheduler_runs_the_maintenance_and_ops_shows_it(worker, org, app):
    deadline = time.monotonic() + 15
    with db.database.connection_context():
        while not MaintenanceRun.select().where(MaintenanceRun.day == TODAY).exists():
            assert time.monotonic() < deadline, "the scheduler did not run the daily maintenance"
            time.sleep(0.1)
        assert MaintenanceRun.select().count() == 1  # many ticks, one run a day
    ops = Browser(app.test_client()).login(org["manager"].email).get("/ops")
    section = text_of(ops.text).split("Daily maintenance")[1]
    assert TODAY.isoformat() in section and "running" not in section.split("Failed")[0]
