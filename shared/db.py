"""One database for the whole process, chosen by URL at start-up.

Models bind to `database`, a peewee `DatabaseProxy`; `connect(url)` points it at SQLite or
PostgreSQL. SQLite runs in WAL mode with a busy timeout so the gateway and several worker
processes can write to the same file.
"""

from __future__ import annotations

from pathlib import Path

import peewee
from playhouse.db_url import connect as connect_url

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10_000,  # ms: wait for a writer in another process instead of failing
    "foreign_keys": 1,
    "synchronous": "normal",
}


def open_database(url: str) -> peewee.Database:
    """Build the peewee database for `url` (sqlite:///path or postgresql://...)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # BEGIN IMMEDIATE: a transaction takes the write lock up front, waiting (busy_timeout) for
        # it. A deferred one that reads and then writes fails at once with "database is locked"
        # if another process wrote in between, and SQLite does not wait in that case.
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    if url.startswith(("postgres://", "postgresql://")):
        return connect_url(url)
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]!r}")


def bind(url: str) -> peewee.Database:
    """Point the shared proxy at the database at `url` and return it."""
    db = open_database(url)
    database.initialize(db)
    return db


def migrate() -> None:
    """Create the tables that do not exist yet (idempotent)."""
    from shared import models

    with database.connection_context():
        database.create_tables(models.ALL_MODELS, safe=True)
