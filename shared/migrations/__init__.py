"""Versioned schema migrations: the numbered files beside this module, applied in order by
`kamflow migrate` and recorded by name in the `schema_migration` table.

The runner is peewee's own (`playhouse.migrations`): each file defines `up(migrator, db)`
with frozen copies of the tables it creates, so a migration means the same thing forever,
whatever the application's models become. docs/migrations.md says how to add one.

A database made before versioned migrations (by `create_tables`, up to commit 71f2648) has the
tables of `0001_baseline` but no history: the baseline is recorded as applied without running,
then the rest are applied. Gateway and workers call `require_current` at start-up and refuse to
run on a database that is behind; a database that is *ahead* (migrated for a newer release that
is still rolling out) is fine for the processes of the previous release.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import peewee
from playhouse.migrations import Migration, Runner

log = logging.getLogger(__name__)

DIRECTORY = Path(__file__).resolve().parent
HISTORY_TABLE = "schema_migration"
BASELINE = "0001_baseline"
#: A table every kamflow database has had since the first release: its presence without a
#: history says "made by create_tables before versioned migrations".
LEGACY_MARKER_TABLE = "customer_account"
#: Tables the models no longer declare, kept by the migrations so the previous release keeps
#: working while a new one rolls out (expand, then contract): a later migration drops them.
RETIRED_TABLES = ("manager_forecast",)
#: PostgreSQL advisory-lock key: two `kamflow migrate` at once run one after the other.
LOCK_KEY = 0x6B616D666C6F77  # "kamflow"


class DatabaseBehind(RuntimeError):
    """The database lacks migrations this code needs: run `kamflow migrate`."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One migration `apply` handled, and whether it ran or was only recorded."""

    name: str
    action: str  # "applied" | "recorded" (the baseline of a pre-versioning database)


def _database(database: peewee.Database | peewee.DatabaseProxy) -> peewee.Database:
    return database.obj if isinstance(database, peewee.DatabaseProxy) else database


def _runner(database: peewee.Database | peewee.DatabaseProxy) -> Runner:
    return Runner(_database(database), str(DIRECTORY), table_name=HISTORY_TABLE)


def _is_legacy(database: peewee.Database) -> bool:
    """Tables made by create_tables before this module existed, and no history."""
    return not database.table_exists(HISTORY_TABLE) and database.table_exists(LEGACY_MARKER_TABLE)


def pending(database: peewee.Database | peewee.DatabaseProxy) -> list[str]:
    """Names of the migration files not yet applied to `database`, in order (read-only)."""
    database = _database(database)
    with database.connection_context():
        return [m.name for m in _runner(database).status() if m.path is not None and not m.applied]


def known() -> list[str]:
    """Every migration file shipped with this code, in order."""
    return [m.name for m in Migration.load_directory(str(DIRECTORY))]


@contextlib.contextmanager
def _exclusive(database: peewee.Database) -> Iterator[None]:
    """On PostgreSQL, one migrator at a time (a second waits); SQLite's write lock does it there."""
    if isinstance(database, peewee.PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    else:
        yield


def migrate() -> list[Step]:
    """Apply the pending migrations to the database `shared.db` is bound to and return what was
    done: the one path for `kamflow migrate`, `make run` and the tests. (Here, not in shared.db:
    the migrations need the models, which need shared.db, so shared.db must not need them.)"""
    from shared.db import database

    return apply(database)


def apply(database: peewee.Database | peewee.DatabaseProxy) -> list[Step]:
    """Apply every pending migration to `database`, each in its own transaction; return what
    was done, in order (empty when the database was up to date)."""
    database = _database(database)
    steps: list[Step] = []
    with database.connection_context(), _exclusive(database):
        runner = _runner(database)
        if _is_legacy(database):
            runner.fake(BASELINE)
            steps.append(Step(BASELINE, "recorded"))
            log.info("database made before versioned migrations: %s recorded as applied", BASELINE)
        for name in runner.up():
            steps.append(Step(name, "applied"))
            log.info("migration %s applied", name)
    return steps


def require_current(url: str) -> None:
    """Raise DatabaseBehind, saying what to do, when the database at `url` lacks migrations.

    Opens its own short-lived connection (nothing pooled is left behind in a process that forks
    workers after this). An unreachable database is not "behind": the process starts and its
    readiness check reports the database instead.
    """
    from shared.db import open_database

    database = open_database(url)
    try:
        missing = pending(database)
    except peewee.OperationalError as error:
        log.warning("could not check the database's migrations at start-up: %s", error)
        return
    finally:
        if hasattr(database, "close_all"):
            database.close_all()
        else:
            database.close()
    if missing:
        message = (
            f"the database is behind this release: {len(missing)} migration(s) pending "
            f"({', '.join(missing)}). Run `kamflow migrate`, then start again."
        )
        log.error(message)
        raise DatabaseBehind(message)


def draft(name: str) -> tuple[str | None, str]:
    """Write the next migration file for what the models have that the migrations do not
    create (new tables, columns, indexes); return (path or None, the differences found).

    Compares an empty scratch SQLite database, migrated, with `shared.models.ALL_MODELS`. What
    peewee's differ does not see (a changed type, nullability or CHECK constraint; a data
    change) is written by hand: docs/migrations.md.
    """
    import tempfile

    from playhouse.migrations import template
    from playhouse.schema_diff import diff_models

    from shared import models

    with tempfile.TemporaryDirectory() as scratch:
        database = peewee.SqliteDatabase(str(Path(scratch) / "scratch.db"))
        apply(database)
        with database.connection_context():
            diff = diff_models(database, models.ALL_MODELS)
    if not diff:
        return None, ""
    return _runner_for_files().create(name, body=template(diff)), str(diff)


def _runner_for_files() -> Runner:
    return Runner(peewee.SqliteDatabase(":memory:"), str(DIRECTORY), table_name=HISTORY_TABLE)
