"""A worker stopped in the middle of the load: /ops shows the backlog growing with every
accepted account and the worker going silent; a new worker drains it and every account ends
active. Real `dramatiq workers.main` processes on the real Redis."""

from __future__ import annotations

import signal

import pytest
from support import account_request, wait_until
from worker_processes import start_worker, stop_worker, worker_env

from ops.support import queue

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
    settings, api, mailbox, ops, fast_liveness
):
    env = worker_env(settings, mailbox.url)
    first = start_worker(env)
    second = None
    try:
        wait_until(lambda: ops.snapshot()["workers_summary"]["processes"] == 1, timeout=30)
        ids = [api.create(request(n)).get_json()["id"] for n in range(5)]
        stop_worker(first, signal.SIGKILL)  # mid-load: some of these may still be in flight
        wait_until(
            lambda: ops.snapshot()["workers_summary"] == {"processes": 0, "threads": 0, "hosts": 0, "silent": 1},
            timeout=10,
            message="/ops never showed the killed worker silent",
        )

        backlog = [queue(ops.snapshot(), "validate_customer")["ready"]]
        for n in range(5, 15):
            ids.append(api.create(request(n)).get_json()["id"])
            if n % 5 == 4:
                backlog.append(queue(ops.snapshot(), "validate_customer")["ready"])
        assert backlog[1] == backlog[0] + 5 and backlog[2] == backlog[0] + 10, backlog  # growing, one per account
        assert "No worker" not in ops.get("/ops/panel").text and "1 silent" in ops.get("/ops/panel").text

        second = start_worker(env)
        wait_until(
            lambda: queue(ops.snapshot(), "validate_customer")["ready"] == 0,
            timeout=30,
            message="the new worker never drained the backlog",
        )
        for account_id in ids:
            assert api.wait_for_status(account_id, timeout=40)["status"] == "active"
        snapshot = ops.snapshot()
        assert snapshot["accounts_by_status"]["active"] == 15
        assert snapshot["workers_summary"]["processes"] == 1
    finally:
        stop_worker(first, signal.SIGKILL)
        if second:
            stop_worker(second)
