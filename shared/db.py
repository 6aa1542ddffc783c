"""One database for the whole process, chosen by URL at start-up.

Models bind to `database`, a peewee `DatabaseProxy`; `connect(url)` points it at SQLite or
PostgreSQL. SQLite runs in WAL mode with a busy timeout so the gateway and several worker
processes can write to the same file.
"""

from __future__ import annotations

import decimal
import itertools
import os
import re
import select
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import peewee
from playhouse.db_url import parse as parse_url
from playhouse.pool import PooledPostgresqlDatabase

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


class PostgresqlPool(PooledPostgresqlDatabase):
    """peewee's pool, checking a connection it hands out without a round trip to the server.

    peewee's sends `SELECT 1` on every checkout: one more wait for the server per request and per
    stage message, a tenth of a POST's. A connection idle in the pool has nothing to read; when
    the server ends it (a restart, `pg_terminate_backend`, an idle timeout) it sends a notice and
    closes the socket, which then is readable: that is checked locally instead. A connection that
    is not idle is rolled back or dropped as peewee does."""

    # peewee's internals this class builds on, which its type stubs leave out.
    _adapter: Any  # the psycopg adapter, set by PostgresqlDatabase
    _isolation_level: Any
    _state: Any  # the thread's connection state: its connection and transactions

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed:
            return True
        if self._adapter.txn_status(conn) != self._adapter.txn_idle:
            return self._adapter.is_connection_closed(conn)
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable)

    # BEGIN sent with the transaction's first statement.
    #
    # peewee sends BEGIN as a statement of its own: one more wait for the server per
    # transaction, five per account in the workflow's stages. psycopg2 sends a statement as
    # text (its parameters put in on the client), so "BEGIN; <statement>" is one round trip
    # that opens the transaction and runs the statement in it, failing as the statement alone
    # would. A transaction that runs no statement sends neither BEGIN nor COMMIT. A cursor
    # taken for use outside `execute_sql` (a server-side cursor, a bulk COPY) sends the BEGIN
    # first on its own, so nothing runs outside the transaction it was opened in.

    def begin(self, isolation_level: Any = None) -> None:
        if self.is_closed():
            self.connect()  # as peewee's begin would: the BEGIN belongs to this connection
        if isolation_level is None:
            isolation_level = self._isolation_level
        statement = "BEGIN"
        if isolation_level:
            statement += f" TRANSACTION ISOLATION LEVEL {self._adapter.isolation_level_str(isolation_level)}"
        self._state.pending_begin = (self._state.conn, statement)

    def _take_pending_begin(self) -> str | None:
        """The BEGIN this thread's transaction has not sent yet, if any (forgotten once taken,
        and never one left over from an earlier connection)."""
        pending = getattr(self._state, "pending_begin", None)
        if pending is None:
            return None
        self._state.pending_begin = None
        connection, statement = pending
        return statement if connection is self._state.conn else None

    #: Statements run again and again are prepared on the server (`_ServerPrepared`); off with
    #: `?prepare=off` on DATABASE_URL, for a pooler that cannot keep them (PgBouncer in transaction mode).
    prepare_statements = True

    def _execute_cursor(self, sql: str, params: Any, **cursor_options: Any) -> Any:
        if not cursor_options:
            if self.prepare_statements:
                sql = _statements.execute(self._state.conn, sql, params)
            begin = self._take_pending_begin()
            if begin is not None:
                sql = f"{begin}; {sql}"
        return super()._execute_cursor(sql, params, **cursor_options)  # type: ignore[misc]

    def _can_reuse(self, conn: Any) -> bool:
        if self.prepare_statements:
            _statements.prepare_wanted(conn)  # first: peewee's check below still has the last word
        return bool(super()._can_reuse(conn))

    def cursor(self, named_cursor: Any = None) -> Any:
        begin = self._take_pending_begin()
        if begin is not None:
            super().cursor().execute(begin)
        return super().cursor(named_cursor)

    def commit(self) -> None:
        if self._take_pending_begin() is None:
            super().commit()

    def rollback(self) -> None:
        if self._take_pending_begin() is None:
            super().rollback()


class _ServerPrepared:
    """PostgreSQL: the statements a process runs again and again, prepared on each connection
    (PREPARE), then run by name (EXECUTE) with the same parameters.

    Parsing and planning a statement anew each time was a third of the server's time per account
    in a profile of the workflow (perf, `make bench`), for statements whose text never changes:
    every query is generated with its values as parameters. A statement is prepared on a
    connection once it has run twice in the process, when the connection is given back to the
    pool, idle, outside any transaction: a statement PostgreSQL cannot prepare (a parameter whose
    type it cannot infer) fails there harmlessly, is never tried again, and runs as text, as every
    statement did before. The server keeps a prepared statement for the connection's life,
    re-planning it when a table it reads changes, and chooses by itself between a plan for the
    values given and one for any value (plan_cache_mode).

    A parameter given a Python int is declared bigint, a float or Decimal numeric, every other
    one is typed by the server from where it stands: in a statement sent as text an integer
    literal too large for an `integer` column compares as a larger type (no row matches), and
    1.5 is numeric, while a parameter typed from that column would refuse the one ("integer out
    of range") and round the other. An int beyond bigint runs the statement as text. So each
    statement is prepared per shape of its parameters.

    Not for a pooler that hands a client's statements to another server connection within a
    session (PgBouncer in transaction mode): `?prepare=off` on DATABASE_URL turns it off."""

    #: Statements prepared per connection, at most: the hot ones are a few dozen.
    PER_CONNECTION = 256
    _PLACEHOLDER = re.compile(r"%%|%s")
    _BIGINT = range(-(2**63), 2**63)

    def __init__(self) -> None:
        self._names: dict[tuple, str] = {}  # (SQL, its parameters' types) -> its name on every connection
        self._runs: dict[tuple, int] = {}
        self._refused: set[tuple] = set()
        self._numbers = itertools.count(1)
        self._prepared: weakref.WeakKeyDictionary[Any, set[tuple]] = weakref.WeakKeyDictionary()
        self._wanted: weakref.WeakKeyDictionary[Any, set[tuple]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def execute(self, conn: Any, sql: str, params: Any) -> str:
        """What to send for `sql`: EXECUTE of its prepared statement if this connection has it;
        else `sql`, noted to be prepared on this connection if it runs often."""
        if conn is None or not isinstance(params, (list, tuple)):
            return sql
        types = []
        for value in params:
            if isinstance(value, int) and not isinstance(value, bool):
                if value not in self._BIGINT:
                    return sql
                types.append("bigint")
            elif isinstance(value, (float, decimal.Decimal)):
                types.append("numeric")  # what a literal 1.5 is in a statement sent as text
            else:
                types.append("unknown")
        key = (sql, tuple(types))
        prepared = self._prepared.get(conn)
        if prepared is not None and key in prepared:
            name = self._names[key]
            return f"EXECUTE {name} ({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}"
        if key in self._refused:
            return sql
        runs = self._runs.get(key, 0) + 1
        if runs <= 2:
            if len(self._runs) < 10_000:
                self._runs[key] = runs
            if runs < 2:
                return sql
        with self._lock:
            wanted = self._wanted.setdefault(conn, set())
            if len(wanted) + len(prepared or ()) < self.PER_CONNECTION:
                wanted.add(key)
        return sql

    def prepare_wanted(self, conn: Any) -> None:
        """Prepare on `conn` (idle, outside a transaction, given back to the pool) the often-run
        statements it does not have yet."""
        with self._lock:
            wanted = self._wanted.pop(conn, None)
        if not wanted or conn.closed or conn.get_transaction_status() != 0:  # 0: idle
            return
        prepared = self._prepared.setdefault(conn, set())
        with conn.cursor() as cursor:
            for key in wanted - prepared:
                sql, types = key
                text = self._numbered(sql)
                if text is None:
                    self._refused.add(key)
                    continue
                name = self._names.setdefault(key, f"kamflow_{next(self._numbers)}")
                declared = f" ({', '.join(types)})" if types else ""
                try:
                    cursor.execute(f"PREPARE {name}{declared} AS {text}")
                except Exception:  # the server could not prepare it: it runs as text
                    self._refused.add(key)
                    if conn.closed or conn.get_transaction_status() != 0:
                        return
                else:
                    prepared.add(key)

    def _numbered(self, sql: str) -> str | None:
        """`sql` with $1, $2... for psycopg2's %s placeholders (and % for %%); None for a
        statement that is not one query on its own."""
        head = sql.lstrip()[:6].upper()
        if ";" in sql or "$" in sql or not head.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "(")):
            return None
        numbers = itertools.count(1)
        return self._PLACEHOLDER.sub(lambda match: "%" if match.group() == "%%" else f"${next(numbers)}", sql)


_statements = _ServerPrepared()


class SqliteFile(peewee.SqliteDatabase):
    """peewee's SQLite database, remembering the cursors each thread opens so that `release`
    can end their reads before the connection is kept for the thread's next request.

    A statement read only in part (a query taken for its first row) holds a read snapshot on
    its connection until its cursor is closed. On a connection closed after each request that
    ended with it; on a kept one the snapshot would carry into the next request, which would
    read old data and fail its next write with "database is locked" (SQLite refuses to write
    from a snapshot that is not the latest)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._cursors = threading.local()

    def cursor(self, named_cursor: Any = None) -> Any:
        cursor = super().cursor(named_cursor)
        opened = getattr(self._cursors, "opened", None)
        if opened is None:
            opened = self._cursors.opened = weakref.WeakSet()
        opened.add(cursor)  # weakly: a cursor nobody holds is closed by the garbage collector
        return cursor

    def end_reads(self) -> None:
        """Close every cursor this thread opened that is still held somewhere, ending its read."""
        opened = getattr(self._cursors, "opened", None)
        if opened:
            for cursor in list(opened):
                cursor.close()
            opened.clear()


#: Every PostgreSQL session's limits on waiting. A transaction left open by a process that froze
#: (stopped, swapped out, its host cut off) keeps its row locks until the server notices, which
#: can take hours: a stage's locked read of that account and a PATCH of it waited as long, and
#: Dramatiq's time limit cannot interrupt a thread blocked in the driver. With these, a wait for
#: a row lock ends after 10 s in an error (a stage retries, a request is a 503 with Retry-After),
#: and the server ends a transaction idle for a minute (kamflow's transactions hold no network
#: wait: a stage's email and webhooks run after its commit), releasing what it held.
SESSION_LIMITS = "-c lock_timeout=10s -c idle_in_transaction_session_timeout=60s"


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
        return SqliteFile(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    if url.startswith(("postgres://", "postgresql://")):
        # Pooled: a stage or a request takes a connection and gives it back, instead of a new
        # TCP connection and authentication each time.
        options = parse_url(url)
        prepare = str(options.pop("prepare", "on")).lower()
        if prepare not in ("on", "off"):
            raise ValueError(f"DATABASE_URL: prepare={prepare!r}, expected on or off")
        # Options given in the URL come after these, and win.
        options["options"] = f"{SESSION_LIMITS} {options.get('options', '')}".strip()
        pool = PostgresqlPool(**options, max_connections=POOL_SIZE, stale_timeout=300, timeout=10)
        pool.prepare_statements = prepare == "on"
        return pool
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]!r}")


#: The largest id a row can have (a 64-bit signed integer): a number beyond it, from a URL or a
#: command line, is an overflow for SQLite and PostgreSQL alike, so no such row, said as much.
MAX_ID = 2**63 - 1


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


def row_check(condition: peewee.Node) -> peewee.Node:
    """`condition` as a check on the row the rest of the WHERE finds by its primary key, in a
    form no index can serve: `(condition) IS TRUE`, which holds for exactly the same rows.

    PostgreSQL without statistics on a table yet (a new database, a burst of rows before
    autovacuum's next pass) costs an index on the checked column as low as the primary key,
    takes it, and reads every row the condition holds for to find the one: a stage's status
    move read every account in the status it left (2,000 behind a backlog of 2,000), the
    customer's login link every account without a login yet (250 a message in a drain of 500)."""
    return peewee.NodeList((condition, peewee.SQL("IS TRUE")))


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
        #: database kind -> (the result's column names, what peewee's cursor wrapper resolved from them).
        self._resolved: dict[type, tuple[tuple, dict]] = {}

    def rows(self, **values: object) -> list:
        kind = type(database.obj)
        compiled = self._compiled.get(kind)
        if compiled is None:
            query = self._build()
            compiled = self._compiled[kind] = (query, *query.sql())
        query, sql, params = compiled
        bound = [_bind(value, values) for value in params]
        cursor = database.execute_sql(sql, bound)
        wrapper = query._get_cursor_wrapper(cursor)
        names = tuple(column[0] for column in cursor.description or ())
        resolved = self._resolved.get(kind)
        if resolved is not None and resolved[0] == names:
            wrapper.__dict__.update(resolved[1])
            wrapper.initialized = True
        rows = list(wrapper)
        if resolved is None and wrapper.initialized:
            self._resolved[kind] = (names, _resolution(wrapper))
        return rows

    def first(self, **values: object) -> Any:
        """The first row, or None (the query says its order and LIMIT)."""
        rows = self.rows(**values)
        return rows[0] if rows else None


def _resolution(wrapper: peewee.CursorWrapper) -> dict:
    """What a peewee cursor wrapper's `initialize` worked out (columns, fields, converters, for
    joins which model each column fills), to give the next wrapper of the same query.

    peewee resolves the result's columns against the query's selection at the first row of
    every query, from the query and the cursor's column names only: a sixth of each prepared
    read's time. The wrappers only read that state afterwards."""
    per_run = {"cursor", "count", "index", "initialized", "populated", "row_cache"}
    return {name: value for name, value in vars(wrapper).items() if name not in per_run}


def release() -> None:
    """The end of a request: give its connection back. PostgreSQL's returns to the pool.
    SQLite's stays open for the thread's next request: opening one reads the whole schema
    (every table, index and trigger) and sets the pragmas before the first statement, a tenth
    of a POST's time. The reads it left unfinished are ended (`SqliteFile.end_reads`), so it
    holds no snapshot between requests and reads the latest commit at its next statement; it
    sees another process's migration through SQLite's schema cookie. One still inside a
    transaction (as the driver sees it: a BEGIN that peewee did not see counts too) is closed,
    so the next request starts clean."""
    db = database.obj
    if db is None or db.is_closed():
        return
    if isinstance(db, SqliteFile) and not db.connection().in_transaction and not _greenlet_locals():
        db.end_reads()
        return
    db.close()


def _greenlet_locals() -> bool:
    """Under gevent's patched threading each request is a greenlet with "thread" locals of its
    own, gone when it ends: a connection kept there would be closed by the garbage collector only."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


Q = TypeVar("Q", bound=peewee.Select)


def locking(query: Q) -> Q:
    """`query` taking a lock on the rows it reads until the transaction ends (SELECT ... FOR
    UPDATE), where the database has row locks: PostgreSQL. SQLite has none and needs none: a
    writing transaction (`BEGIN IMMEDIATE`) holds the whole database's writer lock already."""
    return query.for_update() if database.for_update else query


def insert(model: type[peewee.Model], rows: list[dict]) -> Any:
    """INSERT `rows` (each a model instance's `__data__`: field name -> value, defaults filled)
    into `model`'s table, with the statement's SQL generated once per kind of database, table,
    columns and number of rows, as `Prepared` does for reads. Returns the new primary key of the
    last row (what `Model.create` would set), or None for several rows on PostgreSQL.

    peewee builds an INSERT's SQL anew each time, and for the five rows a new account writes
    that was a sixth of a POST's time."""
    if not rows:
        return None
    returning = database.returning_clause and len(rows) == 1 and model._meta.primary_key is not False
    sql, params = _insert_sql(model, tuple(rows[0]), len(rows), returning)
    cursor = database.execute_sql(sql, _bind_rows(params, rows))
    if returning:
        return cursor.fetchone()[0]
    return cursor.lastrowid if len(rows) == 1 else None


M = TypeVar("M", bound=peewee.Model)


def next_id(model: type[peewee.Model]) -> peewee.Node:
    """PostgreSQL: the SQL taking a new id from `model`'s table's sequence, for a statement that
    takes it alongside reading something else (`insert_with` then writes with it)."""
    key = model._meta.primary_key.column_name  # type: ignore[union-attr]
    return peewee.fn.nextval(peewee.fn.pg_get_serial_sequence(model._meta.table_name, key))


def insert_with(new: M, related: Callable[[M], list[peewee.Model]]) -> M:
    """Write `new` (an unsaved model instance) and the unsaved instances `related(new)` returns
    once `new` has its id (an account's markets, stage runs, audit event...), all or nothing,
    each table's rows in one INSERT. Returns `new`, its id set. On PostgreSQL `new` may come
    with its id already taken (`next_id`).

    PostgreSQL: the id from the table's sequence, then one statement, a WITH of one INSERT per
    table (atomic by itself): two round trips to the server where a transaction with an INSERT a
    table took seven, each waiting for the server's turn on a busy machine. SQLite, which has no
    round trips: `new`'s INSERT, then the others', in one transaction (nested as a savepoint when
    the caller has one open)."""
    model = type(new)
    if not isinstance(database.obj, peewee.PostgresqlDatabase):
        with database.atomic():
            new._pk = insert(model, [new.__data__])  # type: ignore[attr-defined]
            for table, rows in _by_table(related(new)):
                insert(table, rows)
    else:
        if new._pk is None:  # type: ignore[attr-defined]
            table_name, key = model._meta.table_name, model._meta.primary_key.column_name  # type: ignore[union-attr]
            new._pk = database.execute_sql(  # type: ignore[attr-defined]
                "SELECT nextval(pg_get_serial_sequence(%s, %s))", (table_name, key)
            ).fetchone()[0]
        writes: list[tuple[type[peewee.Model], list[dict]]] = [(model, [new.__data__]), *_by_table(related(new))]
        parts = [_insert_sql(table, tuple(rows[0]), len(rows), False) for table, rows in writes]
        statements = [statement for statement, _ in parts]
        sql = statements[-1]
        if len(statements) > 1:
            sql = "WITH " + ", ".join(f"w{n} AS ({one})" for n, one in enumerate(statements[:-1])) + " " + sql
        bound = [
            value for (_, params), (_, rows) in zip(parts, writes, strict=True) for value in _bind_rows(params, rows)
        ]
        database.execute_sql(sql, bound)
    new._dirty.clear()  # type: ignore[attr-defined]
    return new


def _by_table(instances: list[peewee.Model]) -> list[tuple[type[peewee.Model], list[dict]]]:
    """The instances' rows grouped by model, in the order each model first appears."""
    tables: dict[type[peewee.Model], list[dict]] = {}
    for instance in instances:
        tables.setdefault(type(instance), []).append(instance.__data__)
    return list(tables.items())


def _insert_sql(model: type[peewee.Model], names: tuple, count: int, returning: bool) -> tuple[str, tuple]:
    """The SQL of an INSERT of `count` rows of `names` into `model`'s table, and where each of
    its parameters comes from (`_bind_rows`), generated on first use for the bound kind of database."""
    shape = (type(database.obj), model, names, count, returning)
    compiled = _INSERTS.get(shape)
    if compiled is None:
        fields = [model._meta.fields[name] for name in names]
        query = model.insert_many(
            [{field: param(f"{n}:{field.name}", field) for field in fields} for n in range(count)]
        )
        query = query.returning(model._meta.primary_key) if returning else query.returning()
        sql, params = query.sql()
        compiled = _INSERTS[shape] = (sql, tuple(_source(value) for value in params))
    return compiled


def _source(value: object) -> tuple:
    """Where an INSERT's parameter comes from: (row, field name, converter), or (None, the value, None)."""
    if not isinstance(value, _Param):
        return (None, value, None)
    row, name = value.name.split(":", 1)
    return (int(row), name, value.convert)


def _bind_rows(sources: tuple, rows: list[dict]) -> list:
    """An INSERT's parameters, taken from `rows` by the positions worked out once for its shape."""
    return [
        value if row is None else (convert(rows[row][value]) if convert else rows[row][value])
        for row, value, convert in sources
    ]


#: (database kind, model, columns, rows, returning) -> (SQL, its parameters' sources).
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


def prepared_write(build: Callable[[], peewee.Query]) -> Callable[..., int]:
    """An UPDATE, INSERT or DELETE built once, its SQL generated once per kind of database, as
    `Prepared` does for reads; the returned function runs it with new values (the query's
    `param(name, field)`s) and returns how many rows it changed. For the few statements every
    stage message makes, where peewee generating the SQL anew each time took longer than the
    database running them (and, on SQLite, while the writer lock is held)."""
    compiled: dict[type, tuple[str, list]] = {}

    def run(**values: object) -> int:
        kind = type(database.obj)
        if kind not in compiled:
            compiled[kind] = build().sql()
        sql, params = compiled[kind]
        return database.execute_sql(sql, [_bind(value, values) for value in params]).rowcount

    return run
