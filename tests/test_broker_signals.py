"""The broker sends each Dramatiq signal only to the middleware that handle it
(shared.broker.SignalledRedisBroker), and still as Dramatiq does: every handler, in the list's
order (reversed for "after" signals), a failing one logged without stopping the others, a
middleware added later included; shown on a real Redis with a real worker."""

from __future__ import annotations

import logging

import dramatiq
import pytest
from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from shared import broker as broker_setup
from tests.support import make_settings


class Journal(Middleware):
    """Writes down each hook it handles, under its name."""

    def __init__(self, name: str, calls: list, fail: bool = False):
        self.name, self.calls, self.fail = name, calls, fail

    def before_process_message(self, broker, message):
        self.calls.append(("before", self.name))
        if self.fail:
            raise RuntimeError(f"{self.name} failed")

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self.calls.append(("after", self.name))


class Skipper(Middleware):
    def before_process_message(self, broker, message):
        raise SkipMessage()


@pytest.fixture
def broker(redis_url, tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path / 'kamflow.db'}", redis_url, "smtp://127.0.0.1:1")
    broker = broker_setup.setup(settings)
    broker.flush_all()
    yield broker
    broker.flush_all()
    broker.close()


def _declare(broker, actor_name: str, done: list):
    """An actor on its own queue that writes down what it was sent.

    Declare every actor of a test before its first worker starts: a stopped Dramatiq worker
    stays on the broker's middleware, and a queue declared afterwards gets a consumer of that
    stopped worker too, which can take the message and never run it."""

    @dramatiq.actor(broker=broker, actor_name=actor_name, queue_name=actor_name)
    def job(n):
        done.append(n)

    return job


def _run_one(broker, job) -> None:
    job.send(1)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(job.queue_name, timeout=10_000)
        worker.join()
    finally:
        worker.stop()


def test_handlers_run_in_order_a_failing_one_is_logged_and_a_late_one_is_included(broker, caplog):
    calls: list = []
    done: list = []
    first_job, second_job = _declare(broker, "signals_one", done), _declare(broker, "signals_two", done)
    broker.add_middleware(Journal("first", calls))
    broker.add_middleware(Journal("failing", calls, fail=True))
    with caplog.at_level(logging.CRITICAL):
        _run_one(broker, first_job)
    assert done == [1]  # a failing "before" hook is logged, the message still runs
    assert calls == [("before", "first"), ("before", "failing"), ("after", "failing"), ("after", "first")]
    assert "Unexpected failure in before_process_message" in caplog.text and "failing failed" in caplog.text

    calls.clear()
    broker.add_middleware(Journal("late", calls))  # after the handlers were first worked out
    _run_one(broker, second_job)
    assert done == [1, 1]
    assert calls[:3] == [("before", "first"), ("before", "failing"), ("before", "late")]
    assert calls[3:] == [("after", "late"), ("after", "failing"), ("after", "first")]


def test_a_middleware_skipping_a_message_stops_it_as_in_dramatiq(broker):
    broker.add_middleware(Skipper())
    done: list = []
    _run_one(broker, _declare(broker, "signals_skipped", done))
    assert done == []  # SkipMessage went through to the worker, which skipped the message
