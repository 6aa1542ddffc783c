"""The workers' scheduler thread, with a fast tick: it runs the daily maintenance once a day
however many ticks pass, and the run shows on /ops."""

from __future__ import annotations

import datetime as dt

import pytest
from browser import Browser, text_of
from support import make_settings, wait_until

from shared import db
from shared.models import MaintenanceRun

TODAY = dt.date.today()


@pytest.fixture
def settings(database_url, redis_url, smtp_server):
    return make_settings(database_url, redis_url, smtp_server.url, schedule_interval_s=0.3)


def test_the_workers_scheduler_runs_the_maintenance_and_ops_shows_it(worker, org, app):
    with db.database.connection_context():
        wait_until(
            lambda: MaintenanceRun.select().where(MaintenanceRun.day == TODAY).exists(),
            15,
            "the scheduler did not run the daily maintenance",
        )
        assert MaintenanceRun.select().count() == 1  # many ticks, one run a day
    ops = Browser(app.test_client()).login(org["manager"].email).get("/ops")
    section = text_of(ops.text).split("Daily maintenance")[1]
    assert TODAY.isoformat() in section and "running" not in section.split("Failed")[0]
