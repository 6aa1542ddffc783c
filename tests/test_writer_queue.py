"""SQLite: worker processes take turns at the database's one writer through a file lock beside it
(workers.writer_queue). The turn is given back after every transaction, and a holder that never
gives it back (a stopped process) slows the stages down but never stops them."""

from __future__ import annotations

import fcntl
import os
import time

import pytest
from support import account_request

from workers import writer_queue

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def queue_file(settings):
    if not settings.database_url.startswith("sqlite:///"):
        pytest.skip("the writer queue is SQLite's: PostgreSQL takes many writers")
    path = writer_queue.queue_path(settings.database_url.removeprefix("sqlite:///"))
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    yield descriptor
    os.close(descriptor)


def test_the_turn_is_given_back_after_every_stage(api, queue_file):
    account = api.create(account_request()).get_json()
    assert api.wait_for_status(account["id"])["status"] == "active"
    fcntl.flock(queue_file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: raises BlockingIOError if a worker kept it


def test_a_holder_that_never_gives_the_turn_back_slows_the_stages_but_never_stops_them(api, queue_file):
    fcntl.flock(queue_file, fcntl.LOCK_EX)  # another "process" (this open file) holds the turn for good
    started = time.monotonic()
    account = api.create(account_request()).get_json()
    assert api.wait_for_status(account["id"], timeout=30)["status"] == "active"
    # Each of the stages' transactions waited its turn in vain, then went on to SQLite's lock.
    assert time.monotonic() - started >= 4 * writer_queue.WAIT_S
