"""The database connections kept between requests (shared.db.release, shared.db.PostgresqlPool):
a request on a kept connection reads the latest data and can write, whatever the request before
it left behind, and a connection the server ended is not handed out again."""

from __future__ import annotations

import sqlite3

import pytest

from shared import db
from tests.support import POSTGRES_URL, fresh_database_url


def test_a_read_left_unfinished_does_not_carry_into_the_next_request(tmp_path):
    url = fresh_database_url("sqlite", tmp_path)
    database = db.bind(url)
    database.execute_sql("CREATE TABLE reading (n INTEGER)")
    database.execute_sql("INSERT INTO reading VALUES (1), (2), (3)")
    # A request takes the first row of a query and keeps its cursor (a query read in part).
    unfinished = database.execute_sql("SELECT n FROM reading ORDER BY n")
    assert unfinished.fetchone() == (1,)
    db.release()
    assert not database.is_closed(), "SQLite's connection is kept for the thread's next request"

    # Another process writes in between.
    other = sqlite3.connect(url.removeprefix("sqlite:///"))
    other.execute("INSERT INTO reading VALUES (4)")
    other.commit()
    other.close()

    # The next request on the kept connection sees that write and can write itself.
    assert database.execute_sql("SELECT count(*) FROM reading").fetchone() == (4,)
    with database.atomic():
        database.execute_sql("INSERT INTO reading VALUES (5)")
    assert database.execute_sql("SELECT max(n) FROM reading").fetchone() == (5,)
    db.release()


def test_a_request_that_failed_inside_a_transaction_gives_its_connection_up(tmp_path):
    database = db.bind(fresh_database_url("sqlite", tmp_path))
    database.execute_sql("CREATE TABLE reading (n INTEGER)")
    database.connect(reuse_if_open=True)
    database.begin()
    database.execute_sql("INSERT INTO reading VALUES (1)")
    db.release()  # the request ended with its transaction open (an error between BEGIN and COMMIT)
    assert database.is_closed()
    assert database.execute_sql("SELECT count(*) FROM reading").fetchone() == (0,)
    db.release()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL")
def test_a_pooled_connection_the_server_ended_is_replaced_when_handed_out(tmp_path):
    database = db.bind(fresh_database_url("postgres", tmp_path))
    with database.connection_context():
        ended = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    killer = db.open_database(POSTGRES_URL)
    with killer.connection_context():
        killer.execute_sql("SELECT pg_terminate_backend(%s)", (ended,))
        # The server has ended it once it is gone from the server's list.
        for _ in range(100):
            if not killer.execute_sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (ended,)).fetchall():
                break
    killer.close_all()
    with database.connection_context():  # the next request: no error, on a new connection
        assert database.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != ended
    database.close_all()
