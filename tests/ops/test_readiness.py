"""/healthz says the gateway process is alive; /readyz whether it can do its job: 503 naming the
part that is away (Redis or the database), and no more than its name to an unauthenticated
caller (the driver's error is logged), 200 again once it is back."""

from __future__ import annotations

from support import make_settings


def test_readyz_is_503_with_the_reason_while_redis_is_stopped_and_200_after(own_redis, database_url, smtp_server):
    from gateway import create_app
    from shared import broker as broker_setup
    from shared import migrations

    settings = make_settings(database_url, own_redis.url, smtp_server.url)
    client = create_app(settings, broker=broker_setup.make_broker(settings)).test_client()
    migrations.migrate()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"

    own_redis.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["reasons"] == {"broker": "broker unreachable"}  # not its address
    assert "database" not in down.get_json()["reasons"]
    assert client.get("/healthz").status_code == 200  # alive all the same: do not restart it

    own_redis.start()
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(redis_url, smtp_server, caplog):
    from gateway import create_app
    from shared import broker as broker_setup

    settings = make_settings("postgresql://nobody@127.0.0.1:9/nothing", redis_url, smtp_server.url)
    client = create_app(settings, broker=broker_setup.make_broker(settings)).test_client()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["reasons"] == {"database": "database unreachable"}
    assert "nobody" not in down.text and "127.0.0.1" not in down.text  # no role, host or port for anyone to read
    assert "OperationalError" in caplog.text and "database unreachable" in caplog.text  # the operator's log has it
