"""Fixtures for the operators' door: an operator (and a manager) logged in on /ops, `kamflow`
commands, and real `dramatiq workers.main` processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import PASSWORD
from shared import db, observability, organisations


class OpsBrowser:
    """A test client as an operator's browser: logs in, posts forms with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str) -> "OpsBrowser":
        answer = self.post("/login", {"email": email, "password": PASSWORD}, page="/login")
        assert answer.status_code == 302, answer.text
        return self

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def csrf(self, page="/ops") -> str:
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', self.client.get(page).text).group(1)

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


def worker_env(settings, smtp_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("prometheus_multiproc", "dramatiq_prom"))}
    env.update({
        "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "SMTP_URL": smtp_url,
        "BASE_URL": settings.base_url, "MAX_RETRIES": "2", "MIN_BACKOFF_MS": "100", "MAX_BACKOFF_MS": "400",
        "STAGE_TIME_LIMIT_MS": "6000", "STALL_AFTER_S": "7", "RECONCILE_INTERVAL_S": "0.5",
        "HEARTBEAT_TIMEOUT_MS": "5000",
    })
    env.update(extra)
    return env


def start_worker(env: dict, threads: int = 2, log_path=None) -> subprocess.Popen:
    """A real `dramatiq workers.main` process (its own session, so it can be killed whole)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", str(threads)],
        env=env, stdout=out, stderr=out, start_new_session=True,
    )


def stop_worker(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=20)


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
