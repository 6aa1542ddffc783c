"""Fixtures for the operators' door: an operator (and a manager) logged in on /ops, `kamflow`
commands, and real `dramatiq workers.main` processes."""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD
from csrf import csrf_token
from worker_processes import start_worker, stop_worker, worker_env  # noqa: F401  (the ops tests import them from here)

from shared import db, observability, organisations


class OpsBrowser:
    """A test client as an operator's browser: logs in, posts forms with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str) -> OpsBrowser:
        answer = self.post("/login", {"email": email, "password": PASSWORD}, page="/login")
        assert answer.status_code == 302, answer.text
        return self

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def csrf(self, page="/ops") -> str:
        return csrf_token(self.client.get(page).text)

    def post(self, path, data=None, page="/ops"):
        return self.client.post(path, data={"csrf_token": self.csrf(page), **(data or {})})

    def snapshot(self) -> dict:
        answer = self.client.get("/ops/snapshot.json")
        assert answer.status_code == 200, answer.text
        return answer.get_json()


def queue(snapshot: dict, name: str) -> dict:
    return next(q for q in snapshot["queues"] if q["queue"] == name)


@pytest.fixture
def operator(org):
    with db.database.connection_context():
        return organisations.create_staff_user(org["organisation"], "ops@acme-energy.example", "operator", PASSWORD)


@pytest.fixture
def ops(app, operator):
    return OpsBrowser(app.test_client()).login(operator.email)


@pytest.fixture
def manager_ops(app, org):
    return OpsBrowser(app.test_client()).login(org["manager"].email)


@pytest.fixture
def fast_liveness(monkeypatch):
    """A worker counts as silent after 2 s without a heartbeat (15 s in production)."""
    monkeypatch.setattr(observability, "ALIVE_WITHIN_MS", 2000)


def wait_until(predicate, timeout=20.0, interval=0.1, message="condition not met"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(interval)


@pytest.fixture(autouse=True)
def no_workers_from_earlier_tests(redis_client):
    """Worker processes killed by earlier tests stay registered (silent) for an hour: start clean."""
    redis_client.delete(observability.WORKERS_KEY)
