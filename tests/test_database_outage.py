"""The database not answering (stopped, restarting, a failover; SQLite's one writer held past
its wait): a request is answered 503 with Retry-After, saying nothing was done, and the same
request once the database is back is carried out (a creation once, with its Idempotency-Key).
It was a 500 "unexpected error", which tells a CRM's retry logic and a person "a bug", not
"again in a moment"."""

from __future__ import annotations

import contextlib
import sqlite3
from urllib.parse import urlsplit

import psycopg2
import pytest
from browser import STEP1, STEP2_NO_ACCESS, form_version
from csrf import csrf_token
from support import account_request

from shared import db
from shared.models import CustomerAccount


@contextlib.contextmanager
def database_down(database_url: str):
    """The real database refusing every request for a while: PostgreSQL refuses connections to
    it and ends those open (as a restart does); SQLite's write lock is held by another process's
    transaction for longer than kamflow waits for it."""
    if database_url.startswith("sqlite:///"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(database_url.replace(parts.path, "/postgres", 1))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            try:
                cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            except psycopg2.errors.InsufficientPrivilege:
                pytest.skip("TEST_POSTGRES_URL's role may not close its database to connections")
            try:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                yield
            finally:
                cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        admin.close()


def accounts_stored() -> int:
    with db.database.connection_context():
        return CustomerAccount.select().count()


def test_a_creation_while_the_database_is_down_is_a_503_then_the_same_request_is_carried_out_once(api, settings):
    headers = {**api.headers, "Idempotency-Key": "outage-1"}
    body = account_request(**{"setup": {"app_access": False}})
    with database_down(settings.database_url):
        answer = api.client.post("/api/v1/customer-accounts", json=body, headers=headers)
    assert answer.status_code == 503, answer.get_json()
    assert answer.headers["Retry-After"] == "5"
    error = answer.get_json()
    assert error["code"] == 503 and error["status"] == "Service Unavailable"
    assert "Nothing was done" in error["message"]
    assert accounts_stored() == 0

    again = api.client.post("/api/v1/customer-accounts", json=body, headers=headers)
    assert again.status_code == 202, again.get_json()
    replayed = api.client.post("/api/v1/customer-accounts", json=body, headers=headers)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert accounts_stored() == 1


def test_every_operation_of_the_document_declares_the_503(api):
    paths = api.get("/api/openapi.json").get_json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                declared = operation["responses"].get("503")
                assert declared and "Retry-After" in declared["headers"], (method, path)


def test_create_account_while_the_database_is_down_says_so_and_sent_again_creates_it_once(kam_page, settings):
    """The wizard's last step, the one that writes: the KAM is told to try again (a page without
    the menu's user, which the database would have told), and 'Create account' again creates it."""
    assert kam_page.post_form("/customers/new", {**STEP1}).status_code == 302
    setup = kam_page.client.get("/customers/new/setup").text
    create = {"csrf_token": csrf_token(setup), "seen": form_version(setup), **STEP2_NO_ACCESS}
    with database_down(settings.database_url):
        page = kam_page.client.post("/customers/new/setup", data=create)
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "The database is unavailable for a moment. Nothing was done" in page.text
    assert accounts_stored() == 0

    again = kam_page.client.post("/customers/new/setup", data=create)
    assert again.status_code == 302, again.text
    assert kam_page.client.post("/customers/new/setup", data=create).status_code == 302  # sent twice: one account
    assert accounts_stored() == 1
    assert kam_page.client.get("/customers").status_code == 200


def test_a_row_lock_held_by_a_frozen_transaction_is_waited_for_10_s_not_for_ever(api, settings):
    """PostgreSQL: another session took an account's row and froze (a stopped process keeps its
    transaction until the server notices, which can take hours). A PATCH of that account waited
    as long; it now gives up after `lock_timeout` (10 s) with a 503, and goes through once the
    row is free. The server also ends a transaction idle for a minute."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL (SQLite's writer lock is one for the whole file)")
    import time

    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    holder = psycopg2.connect(settings.database_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1 FROM customer_account WHERE id = %s FOR UPDATE", (account_id,))
        started = time.monotonic()
        change = {"customer": {"phone": "+33 1 23 45 67 00"}}
        answer = api.client.patch(f"/api/v1/customer-accounts/{account_id}", json=change, headers=api.headers)
        waited = time.monotonic() - started
        assert answer.status_code == 503, answer.get_json()
        assert answer.headers["Retry-After"] == "5"
        assert 9 < waited < 30
    finally:
        holder.rollback()
        holder.close()
    answer = api.client.patch(f"/api/v1/customer-accounts/{account_id}", json=change, headers=api.headers)
    assert answer.status_code == 200, answer.get_json()
    with db.database.connection_context():
        limit = db.database.execute_sql("SHOW idle_in_transaction_session_timeout").fetchone()[0]
    assert limit == "1min"
