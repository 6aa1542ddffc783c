"""Nothing accepted is lost: Redis stopped and started again under a running system."""

from __future__ import annotations

import dramatiq
import pytest

from conftest import Api, account_request, make_settings
from kamflow.embedded_redis import EmbeddedRedis


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server this test may stop and start again on the same port."""
    server = EmbeddedRedis(directory=tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.mark.slow
def test_request_accepted_while_redis_is_down_completes_after_redis_is_back(own_redis, database_url, smtp_server, org_for):
    import workers
    from gateway import create_app
    from shared import db

    smtp_server.clear()
    settings = make_settings(database_url, own_redis.url, smtp_server.url)
    broker = workers.boot(settings)
    db.migrate()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        api = Api(create_app(settings, broker=broker).test_client(), org_for())
        own_redis.stop()

        answer = api.create(account_request(**{"setup.markets.0.forecasts": ["application"]}))
        assert answer.status_code == 202  # accepted all the same
        account_id = answer.get_json()["id"]
        assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["status"] == "pending"

        own_redis.start()
        account = api.wait_for_status(account_id, timeout=30)
        assert account["status"] == "active", account["rejection_reasons"]
        assert len(smtp_server.wait_for(1)) == 1
    finally:
        worker.stop()
        broker.close()


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
