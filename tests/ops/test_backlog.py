"""A worker stopped in the middle of the load: /ops shows the backlog growing with every
accepted account and the worker going silent; a new worker drains it and every account ends
active. Real `dramatiq workers.main` processes on the real Redis."""

from __future__ import annotations

import pytest
from support import account_request, wait_until

from ops.support import queue, read_snapshot

pytestmark = pytest.mark.slow


def request(n: int):
    return account_request(
        **{
            "setup": {"app_access": False},
            "customer.email": f"c{n}@foundry.example",
            "customer.customer_reference": f"R{n}",
        }
    )


def test_stopping_the_worker_mid_load_shows_the_backlog_grow_and_a_new_worker_drains_it(
    api, mailbox, ops, fast_liveness, worker_processes
):
    first = worker_processes()
    wait_until(lambda: read_snapshot(ops)["workers_summary"]["processes"] == 1, timeout=30)
    ids = [api.create(request(n)).get_json()["id"] for n in range(5)]
    first.kill()  # mid-load: some of these may still be in flight
    wait_until(
        lambda: read_snapshot(ops)["workers_summary"] == {"processes": 0, "threads": 0, "hosts": 0, "silent": 1},
        timeout=10,
        message="/ops never showed the killed worker silent",
    )

    backlog = [queue(read_snapshot(ops), "validate_customer")["ready"]]
    for n in range(5, 15):
        ids.append(api.create(request(n)).get_json()["id"])
        if n % 5 == 4:
            backlog.append(queue(read_snapshot(ops), "validate_customer")["ready"])
    assert backlog[1] == backlog[0] + 5 and backlog[2] == backlog[0] + 10, backlog  # growing, one per account
    assert "No worker" not in ops.get("/ops/panel").text and "1 silent" in ops.get("/ops/panel").text

    worker_processes()
    wait_until(
        lambda: queue(read_snapshot(ops), "validate_customer")["ready"] == 0,
        timeout=30,
        message="the new worker never drained the backlog",
    )
    for account_id in ids:
        assert api.wait_for_status(account_id, timeout=40)["status"] == "active"
    snapshot = read_snapshot(ops)
    assert snapshot["accounts_by_status"]["active"] == 15
    assert snapshot["workers_summary"]["processes"] == 1
