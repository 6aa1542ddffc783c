"""Statements prepared on the server (PostgreSQL, shared.db._ServerPrepared): a statement the
process runs again and again is prepared on each pooled connection and then run by name, with
the same results as its text gave; one the server cannot prepare keeps running as text; a
transaction stays all or nothing whichever way its statements are sent."""

from __future__ import annotations

import datetime as dt

import peewee
import pytest

from shared import db
from tests.support import POSTGRES_URL, RecordingCursor, fresh_database_url, recorded_postgres

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL")


@pytest.fixture
def database(tmp_path):
    database = recorded_postgres(tmp_path, "CREATE TABLE ledger (n INTEGER PRIMARY KEY, label TEXT, at TIMESTAMP)")
    yield database
    database.close_all()


INSERT = "INSERT INTO ledger (n, label, at) VALUES (%s, %s, %s) RETURNING n"
READ = "SELECT n, label, at FROM ledger WHERE n >= %s AND label LIKE %s ORDER BY n"


def _run(database, sql, params):
    """One request's statement: a connection from the pool, given back after."""
    with database.connection_context():
        cursor = database.execute_sql(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def _prepared_on_server(database) -> list[str]:
    with database.connection_context():
        return [s for (s,) in database.execute_sql("SELECT statement FROM pg_prepared_statements").fetchall()]


def test_a_statement_run_again_and_again_is_prepared_and_then_run_by_name(database):
    at = dt.datetime(2026, 11, 26, 12, 30, 15, 250_000)
    written = [_run(database, INSERT, (n, f"row {n}", at)) for n in range(1, 6)]
    assert written == [[(n,)] for n in range(1, 6)]  # RETURNING, whichever way it was sent
    assert [_run(database, READ, (2, "row%")) for _ in range(3)] == [[(n, f"row {n}", at) for n in range(2, 6)]] * 3

    # Twice as text; prepared when the connection went back to the pool; then by its name.
    (prepare,) = [sent for sent in RecordingCursor.sent if sent.startswith("PREPARE") and "INSERT" in sent]
    name = prepare.split()[1]
    assert prepare == (
        f"PREPARE {name} (bigint, unknown, unknown) AS INSERT INTO ledger (n, label, at) VALUES ($1, $2, $3) RETURNING n"
    )
    inserts = [
        sent for sent in RecordingCursor.sent if sent in (INSERT, prepare) or sent.startswith(f"EXECUTE {name} ")
    ]
    assert inserts == [INSERT, INSERT, prepare] + [f"EXECUTE {name} (%s, %s, %s)"] * 3
    assert sum(sent.startswith("EXECUTE") for sent in RecordingCursor.sent) == 3 + 1  # the last read too
    assert prepare.split(" AS ", 1)[1] in " ".join(_prepared_on_server(database))


def test_an_update_run_by_name_counts_its_rows_and_a_percent_sign_is_kept(database):
    for n in range(1, 4):
        _run(database, INSERT, (n, f"{n}%", None))
    update = "UPDATE ledger SET label = label || '%%' WHERE n <= %s"
    assert [_run(database, update, (n,)) for n in (1, 2, 3)] == [1, 2, 3]
    assert any(
        sent.startswith("PREPARE") and sent.endswith("label || '%' WHERE n <= $1") for sent in RecordingCursor.sent
    )
    assert sum(sent.startswith("EXECUTE") and sent.endswith(" (%s)") for sent in RecordingCursor.sent) == 1
    assert _run(database, "SELECT label FROM ledger ORDER BY n", ()) == [("1%%%%",), ("2%%%",), ("3%%",)]  # one % a run


def test_an_integer_too_large_for_the_column_finds_nothing_as_it_did_as_text(database):
    """The API's GET /customer-accounts/<id> with an id beyond `integer`: a 404, never a 500."""
    _run(database, INSERT, (1, "one", None))
    read = "SELECT n FROM ledger WHERE n = %s"
    assert [_run(database, read, (1,)) for _ in range(3)] == [[(1,)]] * 3
    assert any(sent.startswith("EXECUTE") for sent in RecordingCursor.sent)  # prepared, the parameter a bigint
    assert _run(database, read, (20_406_913_115_672,)) == []
    assert _run(database, read, (2**70,)) == []  # beyond bigint: sent as text
    assert _run(database, read, (1,)) == [(1,)]


def test_a_statement_the_server_cannot_prepare_runs_as_text(database):
    unpreparable = "SELECT %s IS NULL"  # PostgreSQL cannot tell the parameter's type
    answers = [_run(database, unpreparable, (value,)) for value in (None, 1, None, "x")]
    assert answers == [[(True,)], [(False,)], [(True,)], [(False,)]]
    assert not any(sent.startswith("EXECUTE") for sent in RecordingCursor.sent)
    assert _run(database, "SELECT 1 + %s", (1,)) == [(2,)]  # the connection is still fine
    assert [sql for sql in _prepared_on_server(database) if "IS NULL" in sql] == []


def test_a_transaction_of_prepared_statements_is_all_or_nothing(database):
    for n in (1, 2):
        _run(database, INSERT, (n, "kept", None))
    with database.connection_context():
        with pytest.raises(peewee.IntegrityError):
            with database.atomic():
                database.execute_sql(INSERT, (3, "lost", None))
                database.execute_sql(INSERT, (1, "duplicate", None))
        assert any(sent.startswith("BEGIN; EXECUTE kamflow_") for sent in RecordingCursor.sent)
        with database.atomic():
            database.execute_sql(INSERT, (4, "kept", None))
    assert _run(database, "SELECT n, label FROM ledger ORDER BY n", ()) == [(1, "kept"), (2, "kept"), (4, "kept")]


def test_prepare_off_on_the_url_sends_every_statement_as_text(tmp_path):
    url = fresh_database_url("postgres", tmp_path)
    database = db.bind(url + ("&" if "?" in url else "?") + "prepare=off")
    database.connect_params["cursor_factory"] = RecordingCursor
    try:
        _run(database, "CREATE TABLE ledger (n INTEGER PRIMARY KEY, label TEXT, at TIMESTAMP)", ())
        RecordingCursor.sent.clear()
        assert [_run(database, INSERT, (n, "row", None)) for n in range(1, 5)] == [[(n,)] for n in range(1, 5)]
        assert RecordingCursor.sent == [INSERT] * 4
        assert _prepared_on_server(database) == []
    finally:
        database.close_all()


def test_a_url_with_another_prepare_value_is_refused():
    with pytest.raises(ValueError, match="prepare='sometimes', expected on or off"):
        db.open_database(POSTGRES_URL + ("&" if "?" in POSTGRES_URL else "?") + "prepare=sometimes")


def test_a_fraction_compares_with_an_integer_column_as_it_did_as_text(database):
    _run(database, INSERT, (2, "two", None))
    read = "SELECT n FROM ledger WHERE n = %s"
    assert [_run(database, read, (value,)) for value in (1.5, 2.0, 1.5, 2.5)] == [[], [(2,)], [], []]
    assert any(sent.startswith("EXECUTE") for sent in RecordingCursor.sent)  # never rounded to 2
