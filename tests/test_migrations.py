"""Versioned migrations: an empty database migrates to exactly the schema the models declare; a
database of the previous release, with its data, is upgraded and then used through the API;
gateway and workers refuse to start on a database that is behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dramatiq
import previous_release
import pytest
from click.testing import CliRunner
from support import Api, account_request

from shared import db, migrations, models, visibility

REPO = Path(__file__).resolve().parents[1]


def kamflow(database_url: str, *args):
    from kamflow.cli import main

    env = {"DATABASE_URL": database_url, "STALL_AFTER_S": "4", "STAGE_TIME_LIMIT_MS": "3000", "MAX_BACKOFF_MS": "400"}
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def schema(database_url: str) -> dict:
    """What a person would call the schema: per table its columns (type, null), indexes
    (columns, unique), foreign keys and CHECK constraints. The migration history is left out, and
    so is the search's trigram index, which the models cannot declare (see
    test_the_search_index_is_made_and_serves_the_search)."""
    database = db.open_database(database_url)
    found = {}
    with database.connection_context():
        for table in database.get_tables():
            if table == migrations.HISTORY_TABLE or table.startswith(visibility.SEARCH_INDEX):
                continue
            found[table] = {
                "columns": sorted((c.name, c.data_type.lower(), c.null) for c in database.get_columns(table)),
                "indexes": sorted(
                    (tuple(i.columns), i.unique)
                    for i in database.get_indexes(table)
                    if not i.name.endswith("_pkey") and i.name != visibility.SEARCH_INDEX
                ),
                "foreign_keys": sorted(
                    (f.column, f.dest_table, f.dest_column) for f in database.get_foreign_keys(table)
                ),
                "checks": sorted(_checks(database, table)),
            }
    if hasattr(database, "close_all"):
        database.close_all()
    return found


def _checks(database, table) -> list[str]:
    if database.param == "?":  # SQLite keeps the CREATE statement
        sql = database.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        return [re.sub(r"\s+", " ", c) for c in re.findall(r"CHECK \((.+?)\)(?:,|\))", sql)]
    rows = database.execute_sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' AND conrelid = %s::regclass",
        (f'"{table}"',),
    ).fetchall()
    return [row[0] for row in rows]


def empty(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    reset = db.open_database(database_url)
    reset.execute_sql("DROP SCHEMA public CASCADE")
    reset.execute_sql("CREATE SCHEMA public")
    reset.close_all()


def test_an_empty_database_is_migrated_to_the_schema_the_models_declare(database_url):
    database = db.bind(database_url)
    with database.connection_context():
        database.create_tables(models.ALL_MODELS)
    declared = schema(database_url)
    empty(database_url)

    first = kamflow(database_url, "migrate")
    assert first.exit_code == 0, first.output
    assert "0001_baseline: applied" in first.output
    assert "database is up to date" in first.output
    # A model change without its migration fails here: see docs/migrations.md.
    migrated = schema(database_url)
    assert set(migrations.RETIRED_TABLES) <= set(migrated)  # kept for the previous release's processes
    assert {t: v for t, v in migrated.items() if t not in migrations.RETIRED_TABLES} == declared

    again = kamflow(database_url, "migrate")
    assert again.exit_code == 0 and "nothing to apply" in again.output
    assert "database is up to date" in again.output
    assert migrations.pending(db.bind(database_url)) == []


@pytest.fixture
def release_database(database_url):
    """The previous release's database, with its data, not yet migrated."""
    return database_url, previous_release.load(database_url)


def test_the_previous_release_database_is_behind_and_says_what_to_do(release_database):
    database_url, _ = release_database
    assert migrations.pending(db.bind(database_url)) == migrations.known()
    with pytest.raises(migrations.DatabaseBehind, match=r"Run `kamflow migrate`"):
        migrations.require_current(database_url)
    status = kamflow(database_url, "status")
    assert status.exit_code == 1 and "run `kamflow migrate`" in status.output


def test_the_search_index_is_made_and_serves_the_search(release_database):
    """0005 indexes the accounts the database already holds, and the search reads through it."""
    database_url, _ = release_database
    assert kamflow(database_url, "migrate").exit_code == 0
    database = db.bind(database_url)
    with database.connection_context():
        every = list(models.CustomerAccount.select())
        query = visibility.search(models.CustomerAccount.select(), "CONTACT1")
        assert sorted(a.id for a in query) == sorted(a.id for a in every if "contact1" in a.email)
        assert len(list(query)) >= 6  # contact10@ ... contact15@ at least
        if database_url.startswith("sqlite"):
            explain = "EXPLAIN QUERY PLAN "
            # FTS5 compares its index with the accounts' rows and raises if they differ.
            name = visibility.SEARCH_INDEX
            database.execute_sql(f"INSERT INTO {name} ({name}) VALUES ('integrity-check')")
        else:
            explain = "EXPLAIN "
            # Beside the accounts (0009), with a short pending list (0007): a burst of new accounts
            # does not turn the planner away from it.
            options = database.execute_sql(
                "SELECT reloptions FROM pg_class WHERE relname = %s", (f"{visibility.SEARCH_INDEX}_trigrams",)
            ).fetchone()[0]
            assert options == ["gin_pending_list_limit=256"]
            indexes = [i.name for i in database.get_indexes("customer_account")]
            assert not [name for name in indexes if "search" in name or "trgm" in name], indexes
            database.execute_sql("SET enable_seqscan = off")  # a handful of rows: reading them would be cheaper
        sql, params = query.sql()
        plan = " ".join(str(row) for row in database.execute_sql(explain + sql, params).fetchall())
        assert visibility.SEARCH_INDEX in plan, plan


def test_the_previous_release_database_with_its_data_is_upgraded_then_used_through_the_api(
    release_database, settings, redis_url, mailbox
):
    import workers
    from gateway import create_app

    database_url, dump = release_database
    result = kamflow(database_url, "migrate")
    assert result.exit_code == 0, result.output
    assert "0001_baseline: recorded as applied" in result.output
    assert migrations.pending(db.bind(database_url)) == []
    assert schema(database_url)  # the release's tables are all still there, with their rows:
    accounts = dump["accounts"]

    broker = workers.boot(settings)
    for key in broker.client.scan_iter(match="dramatiq:*", count=1000):
        broker.client.delete(key)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        api = Api(create_app(settings, broker=broker).test_client(), dump["api_token"])
        listed = api.get("/api/v1/customer-accounts?per_page=100")
        assert listed.status_code == 200, listed.get_json()  # the old token still opens the API
        assert listed.get_json()["total"] == len(accounts)

        active = api.get(f"/api/v1/customer-accounts/{accounts['active']}").get_json()
        assert active["status"] == "active"
        assert [s["state"] for s in active["stages"]] == ["done"] * 4
        assert api.get(f"/api/v1/customer-accounts/{accounts['rejected']}").get_json()["rejection_reasons"]
        # the release's manager forecast (fr-power) still makes the manager option available
        markets = {m["id"]: m for m in api.get("/api/v1/markets").get_json()["items"]}
        assert markets["fr-power"]["manager_forecast"] and not markets["de-power"]["manager_forecast"]

        # What the old release left half-way resumes on the new one: the reconciler finds it.
        for status in ("pending", "validating", "provisioning", "activating", "sending_credentials"):
            assert api.wait_for_status(accounts[status], timeout=30)["status"] == "active", status
        failed = accounts["failed"]
        assert api.post(f"/api/v1/customer-accounts/{failed}/retry").status_code == 202
        assert api.wait_for_status(failed, timeout=30)["status"] == "active"

        new = api.create(
            account_request(
                **{"customer.email": "new.customer@after-upgrade.example", "customer.customer_reference": "FR-999999"}
            )
        )
        assert new.status_code == 202, new.get_json()
        assert api.wait_for_status(new.get_json()["id"])["status"] == "active"
        recipients = {message["To"] for message in mailbox.messages}
        # the new customer, and each resumed or retried account with access (contact10..15)
        assert {"new.customer@after-upgrade.example"} | {
            f"contact{n}@customer{n}.example" for n in range(10, 16)
        } <= recipients

        deliveries = api.get("/api/v1/webhook/deliveries").get_json()
        assert len(deliveries["items"]) >= 3
        assert "delivered" in {d["state"] for d in deliveries["items"]}
    finally:
        worker.stop()
        broker.close()


def _spawn(args, database_url, redis_url):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "x" * 32,
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_gateway_and_workers_refuse_to_start_on_a_database_that_is_behind(release_database, redis_url):
    database_url, _ = release_database
    gateway = _spawn(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "gateway.wsgi:app"],
        database_url,
        redis_url,
    )
    assert gateway.returncode != 0
    assert "Run `kamflow migrate`" in gateway.stderr

    started = time.monotonic()
    worker = _spawn(
        [sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "1"],
        database_url,
        redis_url,
    )
    assert worker.returncode != 0 and time.monotonic() - started < 60
    assert "Run `kamflow migrate`" in worker.stderr


def test_make_migration_drafts_what_a_model_change_needs_and_the_draft_applies(tmp_path, monkeypatch):
    """The documented path for a model change: `kamflow make-migration` drafts the file, `kamflow
    migrate` applies it, and the database then has the new column."""
    import peewee as pw

    shutil.copytree(migrations.DIRECTORY, tmp_path / "migrations")
    monkeypatch.setattr(migrations, "DIRECTORY", tmp_path / "migrations")
    database_url = f"sqlite:///{tmp_path / 'kamflow.db'}"
    assert kamflow(database_url, "migrate").exit_code == 0
    models.ApiToken._meta.add_field("note", pw.CharField(max_length=100, null=True))
    try:
        drafted = kamflow(database_url, "make-migration", "api token note")
        assert drafted.exit_code == 0, drafted.output
        assert "add column api_token.note" in drafted.output
        written = sorted((tmp_path / "migrations").glob("*_api_token_note.py"))
        assert len(written) == 1 and "add_column('api_token', 'note'" in written[0].read_text()

        applied = kamflow(database_url, "migrate")
        assert f"{written[0].stem}: applied" in applied.output
        database = db.bind(database_url)
        with database.connection_context():
            assert "note" in {c.name for c in database.get_columns("api_token")}
        assert "nothing drafted" in kamflow(database_url, "make-migration", "again").output
    finally:
        models.ApiToken._meta.remove_field("note")
