"""A backlog of webhook events drained by a real worker process, whose time limit is enforced
(Dramatiq's TimeLimit runs in a booted worker process only, not in the tests' in-process one)."""

from __future__ import annotations

import json
import time

import pytest
from support import account_request, wait_drained
from test_webhooks import Receiver
from worker_processes import worker_env

from shared import db
from shared.models import WebhookDelivery

pytestmark = pytest.mark.slow

BACKLOG = 10
THINKING_S = 0.9  # the receiver's time per event: the backlog takes 9 s, a message may run 6


def _without_access(n: int) -> dict:
    customer = {"customer.email": f"c{n}@foundry.example", "customer.customer_reference": f"R{n}"}
    return account_request(**customer, setup={"app_access": False})


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def test_a_backlog_longer_than_the_time_limit_reaches_a_slow_receiver_once_in_order_without_a_stall(
    api, settings, mailbox, receiver, redis_client, worker_processes
):
    """Events that waited for a URL that failed are posted to the new URL, whose receiver takes
    its time with each, well within the delivery deadline: draining them all takes longer than
    a stage's time limit (STAGE_TIME_LIMIT_MS, 6 s here), which a delivery message had, and
    than one message's claiming window (WEBHOOK_TIMEOUT_S). Every event arrives once, in order,
    at the receiver's pace: none cut mid-post and held up by its claim until the lease runs out."""
    env = worker_env(
        settings,
        mailbox.url,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        WEBHOOK_STALL_AFTER_S="2",
        WEBHOOK_TIMEOUT_S="2",  # a message claims for 2 s: the backlog goes over several messages
    )
    worker_processes(env, threads=2)
    broken = Receiver()
    broken.failures_left = 10**6
    try:
        api.client.put("/api/v1/webhook", json={"url": broken.url}, headers=api.headers)
        ids = []
        for n in range(BACKLOG):
            ids.append(api.create(_without_access(n)).get_json()["id"])
        for account_id in ids:
            assert api.wait_for_status(account_id, timeout=30)["status"] == "active"
        receiver.delay_s = THINKING_S
        api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers)
        began = time.monotonic()
        receiver.wait_accepted(BACKLOG, timeout=60)
        took = time.monotonic() - began
        wait_drained(redis_client, timeout=60)
    finally:
        broken.stop()
    with db.database.connection_context():
        happened = [d.account_id for d in WebhookDelivery.select().order_by(WebhookDelivery.id)]
    assert sorted(happened) == ids
    posted = [json.loads(r["body"])["account"]["id"] for r in receiver.requests]
    assert posted == happened, "each event once, in the order it happened"
    assert took < BACKLOG * THINKING_S + 6, f"the backlog took {took:.1f} s"
