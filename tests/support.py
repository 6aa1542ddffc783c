"""What the tests share that is not a fixture: the databases they run on, fast settings, the API
as a CRM calls it, a valid request, and the ways to wait for the system without sleeping.

A plain module, imported as `from support import ...`: pytest imports conftest.py itself (and
may do so under another name), so a helper kept there could exist twice. conftest.py holds only
fixtures, built from what is here."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import psycopg2.extensions
import pytest
import redis

from shared import db
from shared.config import Settings

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
DATABASES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])

PASSWORD = "correct-horse-battery"

#: The tests' BASE_URL: links in the emails they read start with it.
BASE_URL = "http://localhost"


# --- waiting ---------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    message: str | Callable[[], str] = "condition not met",
    interval: float = 0.1,
) -> Any:
    """Call `predicate` until it returns something true and return that; fail the test with
    `message` (a string, or a function saying what was seen last) after `timeout` seconds.
    The one polling loop of the tests: a wait that times out is a failure, never a quiet return."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s: {message() if callable(message) else message}")
        time.sleep(interval)


def drained(client: redis.Redis) -> bool:
    """Nothing left to happen: no message queued, delayed or being worked on (a message stays in
    its queue's `.msgs` hash until acked, and a stage sends the next one before its ack), every
    account final, every webhook delivery settled. Read in one Redis transaction, so a message
    handed from one queue to another cannot slip between two reads."""
    from shared import queues, webhooks, workflow
    from shared.models import CustomerAccount, WebhookDelivery, WebhookEndpoint

    with client.pipeline(transaction=True) as pipe:
        for queue in queues.queue_names():
            pipe.hlen(f"{queues.ready_key(queue)}.msgs")
            pipe.hlen(f"{queues.delayed_key(queue)}.msgs")
        if any(pipe.execute()):
            return False
    with db.database.connection_context():
        if CustomerAccount.select().where(CustomerAccount.status.not_in(workflow.FINAL_STATUSES)).exists():
            return False
        return not (
            WebhookDelivery.select()
            .join(WebhookEndpoint)
            .where(WebhookDelivery.state.in_(webhooks.UNDELIVERED) & (WebhookEndpoint.active == True))  # noqa: E712
            .exists()
        )


def wait_drained(client: redis.Redis, timeout: float = 30.0) -> None:
    """Wait until the system is drained (see `drained`), then what was counted is all there will
    be: the way to prove "nothing more arrived" without sleeping. Fails the test on timeout."""
    wait_until(lambda: drained(client), timeout, "the system did not drain", interval=0.05)


# --- the databases and settings --------------------------------------------------------------


def fresh_database_url(kind: str, tmp_path) -> str:
    """An empty database: a new SQLite file, or TEST_POSTGRES_URL's schema dropped and made again."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'kamflow.db'}"
    reset = db.open_database(POSTGRES_URL)
    reset.execute_sql("DROP SCHEMA public CASCADE")
    reset.execute_sql("CREATE SCHEMA public")
    reset.close_all()
    return POSTGRES_URL


def make_settings(database_url: str, redis_url: str, smtp_url: str, **overrides) -> Settings:
    """Fast clocks for tests: short backoffs and time limits, an eager reconciler."""
    values = dict(
        database_url=database_url,
        redis_url=redis_url,
        smtp_url=smtp_url,
        secret_key="test-secret",
        base_url=BASE_URL,
        max_retries=2,
        min_backoff_ms=100,
        max_backoff_ms=400,
        stage_time_limit_ms=3000,
        reconcile_interval_s=0.5,
        stall_after_s=4,
        heartbeat_timeout_ms=5000,
        webhook_max_retries=2,
        webhook_min_backoff_ms=100,
        webhook_max_backoff_ms=400,
        webhook_stall_after_s=2,
        api_rate_limit="100000 per minute",  # the tests poll far faster than a CRM should
        api_unauthenticated_rate_limit="100000 per minute",  # many tests check 401s from one address
        webhook_allow_private_networks=True,  # the tests' webhook receivers listen on loopback
    )
    values.update(overrides)
    return Settings(**values)


# --- the API as a CRM calls it, and what it sends ----------------------------------------------


class Api:
    def __init__(self, client, token):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path, body=None, headers=None, **kwargs):
        return self.client.post(path, json=body, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def create(self, body, **kwargs):
        return self.post("/api/v1/customer-accounts", body, **kwargs)

    def wait_for_status(self, account_id, statuses=("active", "rejected", "failed"), timeout=20.0):
        """Poll the account as a CRM would until it reaches one of `statuses`; fail the test
        (never return quietly) if it has not within `timeout` seconds."""
        last = {}

        def reached():
            last["body"] = body = self.get(f"/api/v1/customer-accounts/{account_id}").get_json()
            return body if body["status"] in statuses else None

        return wait_until(
            reached,
            timeout,
            lambda: (
                f"account {account_id} still {last['body']['status']!r}, not one of {statuses}:"
                f" stages {last['body'].get('stages')}"
            ),
        )


def document_validator(api: Api, schema: str):
    """A JSON Schema validator of the served document's `schema` (its references resolved, its
    formats checked): what a client holding its requests to the document checks them with."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = api.get("/api/openapi.json").get_json()
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:spec#/components/schemas/{schema}"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def account_request(**changes) -> dict:
    """A valid request with access to two markets, as the CRM would send it."""
    today = dt.date.today()
    body = {
        "kam_email": "kam@acme-energy.example",
        "customer": {
            "company": "Martin Foundry SAS",
            "customer_reference": "FR-000123",
            "last_name": "Martin",
            "first_name": "Claire",
            "phone": "+33 1 23 45 67 89",
            "email": "claire.martin@foundry.example",
            "is_demo": False,
        },
        "setup": {
            "app_access": True,
            "editor": "customer",
            "markets": [
                {
                    "market": "fr-power",
                    "start_date": today.isoformat(),
                    "end_date": (today + dt.timedelta(days=400)).isoformat(),
                    "forecasts": ["application", "manager", "client"],
                    "max_optimisations": 2,
                },
                {
                    "market": "de-gas",
                    "end_date": (today + dt.timedelta(days=200)).isoformat(),
                    "forecasts": ["application"],
                    "max_optimisations": 1,
                },
            ],
        },
    }
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is DELETE:
            del target[int(leaf) if leaf.isdigit() else leaf]
        else:
            target[int(leaf) if leaf.isdigit() else leaf] = value
    return body


DELETE = object()

#: Phone numbers the documented pattern refuses, with words of the reason (create and PATCH alike).
BAD_PHONES = [
    ("+33 1 23 45 67 89\ud800", "control characters"),  # a lone surrogate: a 500 once
    ("+33 1 23 45 67 89\n", "control characters"),
    ("+33 1 23 45 67 89\u200b", "control characters"),
    ("+33 1 23 45 67 89 ext. 5", "without an extension"),  # silently dropped once
    ("+1 650 253 0000 x123", "without an extension"),
    ("+1 800 FLOWERS", "use only digits"),  # letters once read as digits
    ("+\uff13\uff13 \uff11 \uff12\uff13 \uff14\uff15 \uff16\uff17 \uff18\uff19", "use only digits"),  # full-width
    ("+33\u30001 23 45 67 89", "use only digits"),
    ("+33 1 23 45 67 89" + " " * 20 + "0", "at most 32 characters"),
]

SET_PASSWORD_LINK = re.compile(r"(https?://[^/\s]+)(/set-password/[A-Za-z0-9_-]+)")


def set_password_link(mail: EmailMessage | str, base_url: str | None = BASE_URL) -> str:
    """The path of the set-password link in a credentials email (the message, or its text), as
    the customer follows it. Fails the test when there is none, or when it does not start with
    `base_url` (the tests' BASE_URL unless said otherwise; None: any origin, e.g. a live server)."""
    text = mail if isinstance(mail, str) else mail.get_body(preferencelist=("plain",)).get_content()
    found = SET_PASSWORD_LINK.search(text)
    assert found, f"no set-password link in the email: {text!r}"
    if base_url is not None:
        assert found.group(1) == base_url, f"the link {found.group(0)} is not under {base_url}"
    return found.group(2)


class RecordingCursor(psycopg2.extensions.cursor):
    """A PostgreSQL cursor that keeps the text of every statement it sends to the server
    (`connect_params["cursor_factory"]`), as written, before its parameters are put in."""

    sent: list[str] = []

    def execute(self, query, vars=None):
        RecordingCursor.sent.append(query if isinstance(query, str) else query.decode())
        return super().execute(query, vars)


def recorded_postgres(tmp_path, *statements: str):
    """A fresh PostgreSQL database whose statements are recorded (`RecordingCursor.sent`, empty
    after `statements` ran to set it up)."""
    database = db.bind(fresh_database_url("postgres", tmp_path))
    database.connect_params["cursor_factory"] = RecordingCursor
    for statement in statements:
        database.execute_sql(statement)
    database.close()
    RecordingCursor.sent.clear()
    return database


# --- many accounts at once, as before the planner has statistics on them ----------------------


def burst_of_accounts(organisation, kam, count: int, prefix: str = "burst") -> None:
    """`count` pending accounts of `kam`, written in one statement: the accounts' table grows by
    that much before autovacuum could gather statistics on it (a new database, a CRM's import)."""
    from shared.models import CustomerAccount

    CustomerAccount.insert_many(
        [
            {
                "organisation": organisation.id,
                "kam": kam.id,
                "company": f"Burst {n}",
                "last_name": "Martin",
                "first_name": "Claire",
                "phone": "+33123456789",
                "email": f"{prefix}{n}@customer.example",
                "email_claim": f"{prefix}{n}@customer.example",
                "customer_reference": f"{prefix.upper()}-{n}",
                "reference_claim": f"{prefix.upper()}-{n}",
                "is_demo": False,
                "app_access": False,
            }
            for n in range(count)
        ]
    ).execute()


def account_rows_read(node: dict) -> int:
    """Rows of customer_account a PostgreSQL plan node (EXPLAIN ANALYZE, FORMAT JSON) and its
    children read, found or filtered out."""
    own = 0
    if node.get("Relation Name") == "customer_account":
        own = (
            node.get("Actual Rows", 0)
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
        )
    return own + sum(account_rows_read(child) for child in node.get("Plans", []))
