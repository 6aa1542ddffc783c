"""One database for the whole process, chosen by URL at start-up.

Models bind to `database`, a peewee `DatabaseProxy`; `connect(url)` points it at SQLite or
PostgreSQL. SQLite runs in WAL mode with a busy timeout so the gateway and several worker
processes can write to the same file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import peewee
from playhouse.db_url import connect as connect_url

database = peewee.DatabaseProxy()
T = TypeVar("T")

#: Connections per process: gunicorn's sync workers use one, a worker process one per thread
#: plus its reconciler and middleware.
POOL_SIZE = 32

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10_000,  # ms: wait for a writer in another process instead of failing
    "foreign_keys": 1,
    "synchronous": "normal",
}


def open_database(url: str) -> peewee.Database:
    """Build the peewee database for `url` (sqlite:///path, whose directory is created, or
    postgresql://..., pooled); it connects on first use. Raises ValueError for another scheme."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # BEGIN IMMEDIATE: a transaction takes the write lock up front, waiting (busy_timeout) for
        # it. A deferred one that reads and then writes fails at once with "database is locked"
        # if another process wrote in between, and SQLite does not wait in that case.
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    if url.startswith(("postgres://", "postgresql://")):
        # Pooled: a stage or a request takes a connection and gives it back, instead of a new
        # TCP connection and authentication each time.
        scheme, rest = url.split("://", 1)
        return connect_url(f"{scheme}+pool://{rest}", max_connections=POOL_SIZE, stale_timeout=300, timeout=10)
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]!r}")


def bind(url: str) -> peewee.Database:
    """Point the shared proxy at the database at `url` and return it (closing the pool of the
    database it pointed at before, if any)."""
    previous = database.obj
    _release_held()
    db = open_database(url)
    database.initialize(db)
    if previous is not None and hasattr(previous, "close_all"):
        previous.close_all()
    return db


#: (process id, path, connection) of the SQLite file this process holds open (`hold_open`).
_held: list = []
#: Held by the process this one was forked from: never closed here (closing a connection
#: inherited through a fork can undo the parent's locks), only kept from the garbage collector.
_inherited: list = []
_holding = threading.Lock()


def hold_open() -> None:
    """SQLite only: keep one idle connection to the bound file open in this process, so that the
    connection each request opens and closes is never the last one. The last connection to close
    checkpoints the WAL into the file, syncs it to disk and deletes the WAL; the next one to open
    rebuilds its index, and its first write syncs a new WAL header: that was half of a request's
    time. With this one open, checkpoints happen as usual, every 1,000 pages written.

    It never reads after opening (no snapshot to go stale) and is not a pool: each request still
    has its own connection. Opened in the process that serves (after a fork), closed by `bind`."""
    db = database.obj
    if not isinstance(db, peewee.SqliteDatabase) or db.database == ":memory:":
        return
    if _held and _held[0][:2] == (os.getpid(), db.database):
        return
    with _holding:
        if _held and _held[0][:2] == (os.getpid(), db.database):
            return
        _release_held()
        connection = sqlite3.connect(db.database, timeout=10, check_same_thread=False)
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opens the WAL: holds it
        _held.append((os.getpid(), db.database, connection))


def _release_held() -> None:
    while _held:
        pid, _, connection = _held.pop()
        if pid == os.getpid():
            connection.close()
        else:
            _inherited.append(connection)


class _Param:
    __slots__ = ("name", "convert")

    def __init__(self, name: str, convert: Callable | None):
        self.name, self.convert = name, convert


def _bind(value: object, values: dict) -> object:
    """A parameter of a generated statement with this run's value put in (converted)."""
    if not isinstance(value, _Param):
        return value
    given = values[value.name]
    return value.convert(given) if value.convert else given


def param(name: str, field: peewee.Field | None = None) -> peewee.Value:
    """A value of a `Prepared` query, given when it runs (converted as `field` converts its values)."""
    return peewee.Value(_Param(name, field.db_value if field is not None else None), converter=False)


class Prepared:
    """A query built once, its SQL generated once per kind of database, then run with new values.

    peewee generates a statement's SQL anew each time it runs; for the reads every API request
    makes (its token, its Idempotency-Key, its KAM, the claims) that generation took a hundred
    times what SQLite takes to run them. `build()` returns the query, with `param(name, field)`
    where a value changes; `rows(**values)` runs it and returns what the query would (models,
    joined ones included)."""

    def __init__(self, build: Callable[[], peewee.SelectBase]):
        self._build = build
        self._compiled: dict[type, tuple] = {}

    def rows(self, **values: object) -> list:
        kind = type(database.obj)
        compiled = self._compiled.get(kind)
        if compiled is None:
            query = self._build()
            compiled = self._compiled[kind] = (query, *query.sql())
        query, sql, params = compiled
        bound = [_bind(value, values) for value in params]
        return list(query._get_cursor_wrapper(database.execute_sql(sql, bound)))

    def first(self, **values: object) -> Any:
        """The first row, or None (the query says its order and LIMIT)."""
        rows = self.rows(**values)
        return rows[0] if rows else None


def release() -> None:
    """The end of a request: give its connection back. PostgreSQL's returns to the pool.
    SQLite's stays open for the thread's next request: opening one reads the whole schema
    (every table, index and trigger) and sets the pragmas before the first statement, a tenth
    of a POST's time. A kept connection holds no snapshot between requests (it reads the latest
    commit at its next statement) and sees another process's migration through SQLite's schema
    cookie; one left inside a transaction by an error is closed, so the next request starts clean."""
    db = database.obj
    if db is None or db.is_closed():
        return
    if isinstance(db, peewee.SqliteDatabase) and not db.in_transaction():
        return
    db.close()


def insert(model: type[peewee.Model], rows: list[dict]) -> Any:
    """INSERT `rows` (each a model instance's `__data__`: field name -> value, defaults filled)
    into `model`'s table, with the statement's SQL generated once per kind of database, table,
    columns and number of rows, as `Prepared` does for reads. Returns the new primary key of the
    last row (what `Model.create` would set), or None for several rows on PostgreSQL.

    peewee builds an INSERT's SQL anew each time, and for the five rows a new account writes
    that was a sixth of a POST's time."""
    if not rows:
        return None
    db = database.obj
    names = tuple(rows[0])
    shape = (type(db), model, names, len(rows))
    compiled = _INSERTS.get(shape)
    if compiled is None:
        fields = [model._meta.fields[name] for name in names]
        query = model.insert_many(
            [{field: param(f"{n}:{field.name}", field) for field in fields} for n in range(len(rows))]
        )
        returning = db.returning_clause and len(rows) == 1 and model._meta.primary_key is not False
        if returning:
            query = query.returning(model._meta.primary_key)
        sql, params = query.sql()
        compiled = _INSERTS[shape] = (sql, params, returning)
    sql, params, returning = compiled
    values = {f"{n}:{name}": value for n, row in enumerate(rows) for name, value in row.items()}
    bound = [_bind(value, values) for value in params]
    cursor = database.execute_sql(sql, bound)
    if returning:
        return cursor.fetchone()[0]
    return cursor.lastrowid if len(rows) == 1 else None


M = TypeVar("M", bound=peewee.Model)


def create(model: type[M], **values: Any) -> M:
    """`model.create(**values)` through `insert`: the same row, defaults and returned instance
    (its id set, nothing left to save), with the SQL generated once."""
    instance = model(**values)
    instance._pk = insert(model, [instance.__data__])  # type: ignore[attr-defined]
    instance._dirty.clear()  # type: ignore[attr-defined]
    return instance


#: (database kind, model, columns, rows) -> (SQL, its parameters, whether it returns the id).
_INSERTS: dict[tuple, tuple] = {}


def record_done(write: Callable[[], T], within_s: float) -> T:
    """Run `write` (one autocommitted statement that records something already done outside,
    like an email the SMTP server took), trying again on a fresh connection while the database
    refuses work (a dropped connection, a lock not granted), for up to `within_s`. Giving up
    too soon would have the outside effect happen twice."""
    deadline = time.monotonic() + within_s
    delay = 0.1
    while True:
        try:
            return write()
        except (peewee.OperationalError, peewee.InterfaceError):
            if database.in_transaction() or time.monotonic() + delay > deadline:
                raise
            database.close()  # the pool drops a dead connection; the next statement opens another
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def migrate() -> list:
    """Apply the pending versioned migrations (shared/migrations) to the bound database and
    return what was done: the one path for `kamflow migrate`, `make run` and the tests."""
    from shared import migrations

    return migrations.apply(database)
