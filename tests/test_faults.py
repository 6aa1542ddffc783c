"""Nothing accepted is lost: Redis stopped and started again under a running system."""

from __future__ import annotations

import dramatiq
import pytest
import redis
from support import Api, account_request, make_settings, wait_drained, wait_until


@pytest.fixture
def system(own_redis, database_url, smtp_server, org_for):
    """Workers and the API on the Redis this test stops; yields the API as the CRM calls it."""
    import workers
    from gateway import create_app
    from shared import migrations

    smtp_server.clear()
    settings = make_settings(database_url, own_redis.url, smtp_server.url)
    broker = workers.boot(settings)
    migrations.migrate()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        yield Api(create_app(settings, broker=broker).test_client(), org_for())
    finally:
        worker.stop()
        broker.close()


@pytest.mark.slow
def test_request_accepted_while_redis_is_down_completes_after_redis_is_back(system, own_redis, smtp_server):
    api = system
    own_redis.stop()

    answer = api.create(account_request(**{"setup.markets.0.forecasts": ["application"]}))
    assert answer.status_code == 202  # accepted all the same
    account_id = answer.get_json()["id"]
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["status"] == "pending"

    own_redis.start()
    account = api.wait_for_status(account_id, timeout=30)
    assert account["status"] == "active", account["rejection_reasons"]
    wait_drained(redis.Redis.from_url(own_redis.url))
    assert len(smtp_server.messages) == 1


@pytest.fixture
def org_for(database_url):
    """Make the organisation, KAM and token once the database is bound; returns the token."""
    from shared import db, organisations

    def make():
        with db.database.connection_context():
            organisation = organisations.create_organisation("acme-energy", "Acme Energy", ["fr-power", "de-gas"])
            organisations.create_staff_user(organisation, "kam@acme-energy.example", "kam", "correct-horse-battery")
            return organisations.create_api_token(organisation, "crm")

    return make


@pytest.mark.slow
def test_api_retry_while_redis_is_down_is_accepted_and_completes_once_redis_is_back(system, own_redis, smtp_server):
    """The retry is an operator's decision, recorded in the database: with the broker away it
    is answered 202 (not 500), the reconciler sends the stage once Redis is back, and the
    give-up's dead letter, obsolete, does not stay behind."""
    from shared import queues

    api = system
    client = redis.Redis.from_url(own_redis.url)
    smtp_server.refuse_next(3)  # the first try and both retries: send_credentials gives up
    account_id = api.create(account_request(**{"setup.markets.0.forecasts": ["application"]})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    wait_until(lambda: client.zcard(queues.dead_key("send_credentials")) == 1, 30, "no dead letter for the give-up")
    own_redis.stop()

    answer = api.post(f"/api/v1/customer-accounts/{account_id}/retry")
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["status"] == "sending_credentials"

    own_redis.start()  # with its append-only file: the dead letter is still there
    assert api.wait_for_status(account_id, timeout=40)["status"] == "active"
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["claire.martin@foundry.example"]
    wait_until(lambda: client.zcard(queues.dead_key("send_credentials")) == 0, 30, "the dead letter stayed behind")
    wait_drained(client)
    assert len(smtp_server.messages) == 1


@pytest.mark.slow
def test_a_request_made_while_redis_hangs_is_answered_202_within_seconds_and_completes_later(
    system, own_redis, smtp_server
):
    """Redis that stops answering (a frozen process, a network that drops packets) is not Redis
    refusing connections: a client without a socket timeout waits for ever. The rate limit
    counted in Redis (2 s) and the enqueue after the commit (10 s) must both give up in bounded
    time, so the CRM gets its 202 and the account waits, pending, for the reconciler."""
    import os
    import signal
    import threading
    import time

    api = system
    api.get("/api/v1/customer-accounts")  # the rate limit's connection to Redis is open already
    answers: list = []
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        request = threading.Thread(
            target=lambda: answers.append(
                api.create(account_request(**{"setup.markets.0.forecasts": ["application"]}))
            ),
            daemon=True,
        )
        request.start()
        request.join(30)
        took = time.monotonic() - began
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert answers, "the request was still waiting for Redis after 30 s"
    assert answers[0].status_code == 202, answers[0].get_json()
    assert took < 14, f"answered after {took:.1f} s"  # the count's 2 s, the enqueue's 10 s
    account = api.wait_for_status(answers[0].get_json()["id"], timeout=40)
    assert account["status"] == "active", account["rejection_reasons"]
    wait_drained(redis.Redis.from_url(own_redis.url))
    assert len(smtp_server.messages) == 1


@pytest.mark.slow
def test_redis_gone_between_a_stages_commit_and_sending_the_next_leaves_it_to_the_reconciler(
    own_redis, database_url, smtp_server, org_for
):
    """The stage commits, then Redis is not there to take the next stage: that send is best
    effort like every send after a commit (`account_status.send_stage`), so the stage ends
    normally instead of raising into Dramatiq (a retry of a stage that is done, a dead letter
    on its last retry); the reconciler sends the next stage once Redis is back, and the
    account completes with one email."""
    import workers
    from gateway import create_app
    from shared import migrations
    from workers import validate_customer
    from workers.stage_actor import run_stage

    smtp_server.clear()
    settings = make_settings(database_url, own_redis.url, smtp_server.url)
    broker = workers.boot(settings)
    migrations.migrate()
    try:
        api = Api(create_app(settings, broker=broker).test_client(), org_for())
        account_id = api.create(account_request(**{"setup.markets.0.forecasts": ["application"]})).get_json()["id"]
        own_redis.stop()  # the validate_customer message waits in Redis's append-only file

        run_stage("validate_customer", account_id, validate_customer.run, settings)  # as a worker thread would

        account = api.get(f"/api/v1/customer-accounts/{account_id}").get_json()
        assert account["status"] == "provisioning"
        own_redis.start()
        worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
        worker.start()
        try:
            account = api.wait_for_status(account_id, timeout=40)
            assert account["status"] == "active", account["rejection_reasons"]
            wait_drained(redis.Redis.from_url(own_redis.url))
        finally:
            worker.stop()
    finally:
        broker.close()
    assert len(smtp_server.messages) == 1
    assert [s["attempts"] for s in account["stages"]] == [1, 1, 1, 1]


@pytest.mark.slow
def test_an_account_locked_by_a_frozen_transaction_does_not_stop_the_reconciler_for_the_others(
    own_redis, database_url, smtp_server, org_for
):
    """PostgreSQL: a process frozen in the middle of a stage (SIGSTOP, a VM paused, a host cut
    off without a word) keeps its account's row locked until the server notices, by TCP
    keepalive, hours later. The reconciler must re-send the other stalled accounts meanwhile:
    it touched them one by one in the order they stalled, the locked one first, and its UPDATE
    waited for that lock for ever, in every worker process in turn."""
    if not database_url.startswith("postgres"):
        pytest.skip("row locks: PostgreSQL (SQLite's writer lock is one for the whole file)")
    import psycopg2

    import workers
    from gateway import create_app
    from shared import migrations

    smtp_server.clear()
    settings = make_settings(database_url, own_redis.url, smtp_server.url)
    broker = workers.boot(settings)
    migrations.migrate()
    frozen = psycopg2.connect(database_url)
    try:
        api = Api(create_app(settings, broker=broker).test_client(), org_for())
        forecasts = {"setup.markets.0.forecasts": ["application"]}
        locked = api.create(account_request(**forecasts)).get_json()["id"]
        other = api.create(
            account_request(
                **forecasts, **{"customer.email": "other@foundry.example", "customer.customer_reference": "R2"}
            )
        ).get_json()["id"]
        with frozen.cursor() as cursor:  # a stage's transaction, never to end
            cursor.execute("SELECT id FROM customer_account WHERE id = %s FOR UPDATE", (locked,))
        redis.Redis.from_url(own_redis.url).flushall()  # Redis restarted without its append-only file

        worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
        worker.start()
        try:
            account = api.wait_for_status(other, timeout=30)
            assert account["status"] == "active", account["rejection_reasons"]
            frozen.rollback()  # the server ends the frozen session at last
            assert api.wait_for_status(locked, timeout=30)["status"] == "active"
            wait_drained(redis.Redis.from_url(own_redis.url))
        finally:
            worker.stop()
    finally:
        frozen.close()
        broker.close()
    assert len(smtp_server.messages) == 2
