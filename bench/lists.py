"""Reading lists with many accounts stored: the API's list and the KAM's Customers page, each in
its default view and narrowed (a status filter on the API, a search on the page), timed request
by request from one client once the organisation holds 1,000 and then 100,000 accounts.

The stored accounts are written straight into the database in bulk (a few statements per
thousand rows, not one request each): finished accounts as history leaves them, each with its
four stage runs and one market, older than the bench's own.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import http.cookiejar
import time
import urllib.parse
import urllib.request

import peewee

from bench import organisation, stats
from bench.deadline import Deadline
from shared import workflow
from shared.db import database
from shared.models import CustomerAccount, MarketAccess, Organisation, StageRun, User, utcnow

#: A stored account's status by its index: mostly active, some rejected or failed.
REJECTED_EVERY, FAILED_EVERY = 40, 97


def _status(index: int) -> str:
    if index % REJECTED_EVERY == 0:
        return workflow.REJECTED
    if index % FAILED_EVERY == 0:
        return workflow.FAILED
    return workflow.ACTIVE


def _insert_fast(model, rows: list[dict]) -> None:
    """INSERT the rows with one prepared statement (the driver's executemany, or psycopg2's
    execute_values on PostgreSQL): peewee's insert_many spends far longer building SQL text in
    Python than the database spends storing 100,000 rows."""
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    values = [tuple(field.db_value(row[name]) for field, name in zip(fields, names, strict=True)) for row in rows]
    table = model._meta.table_name
    cursor = database.cursor()
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        from psycopg2.extras import execute_values

        execute_values(cursor, f'INSERT INTO "{table}" ({columns}) VALUES %s', values, page_size=1000)
    else:
        cursor.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(fields))})', values)


def store_up_to(total: int) -> int:
    """Add stored accounts until the bench's organisation holds `total`; returns how many were added."""
    with database.connection_context():
        org = Organisation.get(Organisation.slug == organisation.SLUG)
        kam = User.get(User.email == organisation.KAM_EMAIL)
        have = CustomerAccount.select().where(CustomerAccount.organisation == org).count()
        missing = max(total - have, 0)
        if not missing:
            return 0
        since = utcnow() - dt.timedelta(days=400)
        today = dt.date.today()
        with database.atomic():
            last_id = CustomerAccount.select(peewee.fn.MAX(CustomerAccount.id)).scalar() or 0
            _insert_fast(
                CustomerAccount,
                [
                    {
                        "organisation": org.id,
                        "kam": kam.id,
                        "company": f"Stored Customer {index:06d} SARL",
                        "customer_reference": f"S-{index:06d}",
                        "last_name": "Bernard",
                        "first_name": "Louise",
                        "phone": "+33123456789",
                        "email": f"contact-{index}@stored-customer.example",
                        "is_demo": index % 10 == 0,
                        "app_access": True,
                        "editor": "customer",
                        "status": _status(index),
                        "created_at": since + dt.timedelta(seconds=index),
                        "updated_at": since + dt.timedelta(seconds=index),
                    }
                    for index in range(have, have + missing)
                ],
            )
            added = CustomerAccount.select(CustomerAccount.id).where(CustomerAccount.id > last_id)
            MarketAccess.insert_from(
                CustomerAccount.select(
                    CustomerAccount.id,
                    peewee.Value("fr-power"),
                    peewee.Value(today),
                    peewee.Value(today + dt.timedelta(days=365)),
                    peewee.Value('["application"]'),
                    peewee.Value(1),
                ).where(CustomerAccount.id.in_(added)),
                fields=[
                    MarketAccess.account,
                    MarketAccess.market,
                    MarketAccess.start_date,
                    MarketAccess.end_date,
                    MarketAccess.forecasts,
                    MarketAccess.max_optimisations,
                ],
            ).execute()
            for stage in workflow.STAGE_NAMES:
                StageRun.insert_from(
                    CustomerAccount.select(
                        CustomerAccount.id,
                        peewee.Value(stage),
                        peewee.Value(workflow.DONE),
                        peewee.Value(1),
                        CustomerAccount.created_at,
                        CustomerAccount.updated_at,
                    ).where(CustomerAccount.id.in_(added)),
                    fields=[
                        StageRun.account,
                        StageRun.stage,
                        StageRun.state,
                        StageRun.attempts,
                        StageRun.started_at,
                        StageRun.finished_at,
                    ],
                ).execute()
    if database.obj is not None and isinstance(database.obj, peewee.PostgresqlDatabase):
        with database.connection_context():
            database.execute_sql("ANALYZE")
    return missing


class _CsrfField(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.token = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") == "csrf_token":
            self.token = attrs.get("value")


def login(base_url: str, email: str, password: str) -> urllib.request.OpenerDirector:
    """A browser-like client of the KAM pages: logged in through the login form, cookies kept."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base_url}/login", timeout=30) as response:
        parser = _CsrfField()
        parser.feed(response.read().decode())
    form = urllib.parse.urlencode({"csrf_token": parser.token, "email": email, "password": password}).encode()
    with opener.open(urllib.request.Request(f"{base_url}/login", data=form, method="POST"), timeout=30) as response:
        if "/login" in response.url:
            raise RuntimeError("the bench's KAM could not log in")
    return opener


def _p95(opener, url: str, requests: int, deadline: Deadline, headers: dict | None = None) -> float | None:
    """p95 in ms of `requests` GETs of `url` one after the other (after one untimed warm-up)."""
    times = []
    for n in range(requests + 1):
        deadline.check(f"timing {url}")
        started = time.perf_counter()
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
        if n:
            times.append(time.perf_counter() - started)
    return stats.milliseconds(stats.percentile(times, 95))


def measure(base_url: str, token: str, page_client, stored: int, requests: int, deadline: Deadline) -> dict:
    """p95 of each view with `stored` accounts in the organisation."""
    api = urllib.request.build_opener()
    bearer = {"Authorization": f"Bearer {token}"}
    search = f"{stored // 2:06d}"  # one stored account's number: matches a handful
    figures = {
        "stored": stored,
        "list_default_p95_ms": _p95(api, f"{base_url}/api/v1/customer-accounts", requests, deadline, bearer),
        "list_filtered_p95_ms": _p95(
            api, f"{base_url}/api/v1/customer-accounts?status=rejected", requests, deadline, bearer
        ),
        "page_default_p95_ms": _p95(page_client, f"{base_url}/customers", requests, deadline),
        "page_search_p95_ms": _p95(page_client, f"{base_url}/customers?q={search}", requests, deadline),
    }
    figures["list_p95_ms"] = max(figures["list_default_p95_ms"], figures["list_filtered_p95_ms"])
    figures["page_p95_ms"] = max(figures["page_default_p95_ms"], figures["page_search_p95_ms"])
    return figures
