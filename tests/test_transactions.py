"""Transactions on PostgreSQL (shared.db.PostgresqlPool sends BEGIN with a transaction's first
statement, one wait for the server less per transaction): a transaction is still all or
nothing, whatever runs in it and however it ends, and a connection goes back to the pool clean."""

from __future__ import annotations

import peewee
import pytest

from tests.support import POSTGRES_URL, RecordingCursor, recorded_postgres

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL")


@pytest.fixture
def database(tmp_path):
    database = recorded_postgres(tmp_path, "CREATE TABLE ledger (n INTEGER PRIMARY KEY)")
    yield database
    database.close_all()


def _stored(database) -> list[int]:
    return [n for (n,) in database.execute_sql("SELECT n FROM ledger ORDER BY n").fetchall()]


def test_a_transaction_sends_its_begin_with_its_first_statement(database):
    with database.atomic():
        database.execute_sql("INSERT INTO ledger VALUES (1)")
        database.execute_sql("INSERT INTO ledger VALUES (2)")
    assert RecordingCursor.sent == ["BEGIN; INSERT INTO ledger VALUES (1)", "INSERT INTO ledger VALUES (2)", "COMMIT"]
    assert _stored(database) == [1, 2]


def test_a_transaction_that_fails_leaves_nothing_written(database):
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            database.execute_sql("INSERT INTO ledger VALUES (1)")
            database.execute_sql("INSERT INTO ledger VALUES (1)")
    with pytest.raises(RuntimeError):
        with database.atomic():
            database.execute_sql("INSERT INTO ledger VALUES (2)")
            raise RuntimeError("the caller gave up")
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            database.execute_sql("INSERT INTO ledger VALUES (NULL)")  # its very first statement fails
    assert _stored(database) == []
    with database.connection_context():  # the pooled connection is clean: it can write again
        database.execute_sql("INSERT INTO ledger VALUES (3)")
    assert _stored(database) == [3]


def test_a_savepoint_inside_rolls_back_alone(database):
    with database.atomic():
        with database.atomic():
            database.execute_sql("INSERT INTO ledger VALUES (1)")
        with pytest.raises(peewee.IntegrityError):
            with database.atomic():
                database.execute_sql("INSERT INTO ledger VALUES (1)")
        database.execute_sql("INSERT INTO ledger VALUES (2)")
    assert _stored(database) == [1, 2]


def test_a_cursor_taken_inside_a_transaction_writes_inside_it(database):
    with pytest.raises(RuntimeError):
        with database.atomic():
            database.cursor().execute("INSERT INTO ledger VALUES (1)")  # as a bulk load does
            raise RuntimeError("the caller gave up")
    assert _stored(database) == []


def test_a_transaction_that_ran_nothing_costs_no_round_trip(database):
    with database.atomic():
        pass
    assert RecordingCursor.sent == []
