"""Proof under faults (see tests/fault_run.py): workers SIGKILLed, Redis restarted, the database
refusing work, SMTP refusing and dropping, the webhook receiver down — and still, per accepted
request, one account, final in bounded time, one email, one webhook, nothing left behind.

`make test` runs the short plan on one database; `make test-faults` (pytest --faults=full) runs
1,000 accounts on PostgreSQL and SQLite, with and without Redis's append-only file.
"""

from __future__ import annotations

import dataclasses

import fault_run
import pytest
from support import DATABASES, PASSWORD, fresh_database_url

from shared import db, migrations, organisations


def configurations(mode: str) -> list:
    if mode == "short":  # the harder broker (forgets everything on restart), the CI's main database
        return [pytest.param(DATABASES[-1], False, id=f"{DATABASES[-1]}-no-aof")]
    return [
        pytest.param(database, aof, id=f"{database}-{'aof' if aof else 'no-aof'}")
        for database in reversed(DATABASES)
        for aof in (True, False)
    ]


def pytest_generate_tests(metafunc):
    if {"database_kind", "aof"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("database_kind", "aof"), configurations(metafunc.config.getoption("--faults")))


def seed(database_url: str) -> dict[str, str]:
    """Two organisations offering French power (no manager forecasts: asking for one is the
    planted rule violation), a KAM each, an API token each."""
    db.bind(database_url)
    migrations.migrate()
    tokens = {}
    with db.database.connection_context():
        for org in fault_run.ORGS:
            organisation = organisations.create_organisation(org, org.title(), ["fr-power"])
            organisations.create_staff_user(organisation, f"kam@{org}.example", "kam", PASSWORD)
            tokens[org] = organisations.create_api_token(organisation, "crm")
    return tokens


def test_every_accepted_request_ends_once_and_final_under_faults(request, tmp_path, database_kind, aof):
    plan = fault_run.SHORT if request.config.getoption("--faults") == "short" else fault_run.FULL
    plan = dataclasses.replace(plan, aof=aof)
    database_url = fresh_database_url(database_kind, tmp_path)
    run = fault_run.FaultRun(plan, database_url, tmp_path)
    try:
        run.start(seed(database_url))
        report = run.run()
    finally:
        run.stop()
    print("\n" + "\n".join(report.lines()))
    assert report.problems == [], "\n".join(report.lines())
    assert report.accepted == plan.accounts
    assert report.lost == 0 and report.duplicates == 0
    assert report.kills == plan.kills and report.whole_host_kills == 1
    assert report.redis_restarts == 1 and report.database_outages == 1
    assert report.active + report.rejected == report.accepted
    assert report.rejected == plan.accounts // 10
    assert report.webhooks == report.active
    assert report.worst_after_last_fault_s <= report.bound_s < 120
