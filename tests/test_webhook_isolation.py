"""One organisation's slow webhook receiver does not slow anyone else's accounts.

Deliveries run on their own worker pool (`shared.queues.DELIVERY_QUEUES`, a separate `dramatiq
... --queues deliver_webhook` in `make run` and in production). Here four organisations'
receivers trickle their answer a byte at a time, holding every delivery thread; another
organisation's accounts still walk every stage as fast as ever.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import dramatiq
import pytest
from support import Api, account_request, make_settings, wait_until
from test_webhooks import Receiver

from shared import db, organisations, queues

TRICKLING_ORGS = 4


class TricklingReceiver:
    """Reads the request, then answers one byte every half second and never finishes, as a
    receiver behind a congested link does. Each byte comes well within a socket's read timeout."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.stopped = threading.Event()
        self.open = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/events"

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with self.lock:
            self.open += 1
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self.stopped.wait(0.5):
                conn.sendall(b"a")
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
            conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def delivery_deadline_s():
    """The one overall deadline of a delivery (connect + send + answer); a test may set its own."""
    return 60


@pytest.fixture
def settings(database_url, redis_url, smtp_server, delivery_deadline_s):
    """A stage time limit far above how long the tests wait: only the pools keep a trickle from
    holding a stage's thread, and only the delivery deadline from holding a delivery thread."""
    return make_settings(
        database_url,
        redis_url,
        smtp_server.url,
        stage_time_limit_ms=60_000,
        stall_after_s=70,
        webhook_timeout_s=delivery_deadline_s,
    )


@pytest.fixture
def pools(broker):
    """The two pools `make run` starts: stages (2 threads) and deliveries (2 threads)."""
    started = [
        dramatiq.Worker(broker, queues=set(queues.stage_pool_queues()), worker_timeout=100, worker_threads=2),
        dramatiq.Worker(broker, queues=set(queues.DELIVERY_QUEUES), worker_timeout=100, worker_threads=2),
    ]
    for worker in started:
        worker.start()
    yield started
    for worker in started:
        worker.stop()


def trickling_organisation(client, n: int, receiver: TricklingReceiver) -> Api:
    with db.database.connection_context():
        organisation = organisations.create_organisation(f"slow-{n}", f"Slow {n}", ["fr-power", "de-gas"])
        organisations.create_staff_user(organisation, f"kam@slow-{n}.example", "kam", "correct-horse-battery")
        api = Api(client, organisations.create_api_token(organisation, "crm"))
    assert api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers).status_code == 201
    return api


@pytest.fixture
def trickling(client, pools):
    """Four organisations whose receivers trickle, each with an account whose delivery is now
    held by its receiver: every delivery thread is taken."""
    receivers = [TricklingReceiver() for _ in range(TRICKLING_ORGS)]
    try:
        for n, receiver in enumerate(receivers):
            slow = trickling_organisation(client, n, receiver)
            body = account_request(
                **{
                    "kam_email": f"kam@slow-{n}.example",
                    "customer.email": f"c@slow-{n}.example",
                    "customer.customer_reference": f"S{n}",
                    "setup": {"app_access": False},
                }
            )
            slow.wait_for_status(slow.create(body).get_json()["id"])
        wait_until(
            lambda: sum(r.open for r in receivers) >= 2,
            20,
            "the deliveries never reached the trickling receivers",
            interval=0.05,
        )
        yield receivers
    finally:
        for receiver in receivers:
            receiver.close()


def test_trickling_receivers_of_other_organisations_do_not_delay_an_organisations_accounts(api, trickling):
    receivers = trickling
    started = time.monotonic()
    ids = [
        api.create(
            account_request(**{"customer.email": f"c{n}@foundry.example", "customer.customer_reference": f"R{n}"})
        ).get_json()["id"]
        for n in range(3)
    ]
    for account_id in ids:
        # Each account walks four stages; a held stage thread would keep it waiting 60 s.
        assert api.wait_for_status(account_id, timeout=15)["status"] == "active"
    took = time.monotonic() - started
    assert sum(r.open for r in receivers) >= 2, "a trickle ended early: the test proved nothing"
    print(f"3 accounts active in {took:.1f} s while {sum(r.open for r in receivers)} deliveries trickled")


@pytest.mark.parametrize("delivery_deadline_s", [2])
def test_another_organisations_webhook_arrives_while_receivers_trickle(api, trickling, redis_client):
    """The delivery pool is full of trickles, but each is cut at the deadline (2 s here), so the
    event of a healthy receiver waits at most a few deadlines: ceil(4 trickles / 2 threads) x 2 s
    plus backoffs. Without an overall deadline a trickle holds its thread until the 60 s time limit."""
    receiver = Receiver()
    try:
        assert api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers).status_code == 201
        account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
        assert api.wait_for_status(account_id, timeout=15)["status"] == "active"
        active_at = time.monotonic()
        (delivered,) = receiver.wait_accepted(1, timeout=20)
        assert json.loads(delivered["body"])["account"]["id"] == account_id
        print(f"webhook delivered {time.monotonic() - active_at:.1f} s after the account was active")
    finally:
        receiver.stop()
