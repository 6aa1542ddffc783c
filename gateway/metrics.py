"""Prometheus metrics of the gateway, served at /metrics.

Requests by endpoint (the URL rule, so ids do not explode the label set), method and status; a
latency histogram by endpoint; and, read from the database at scrape time, the accounts accepted
(every account stored, by either door) and the accounts by status — numbers that stay right
however many gateway processes run and however often they restart.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR to an empty directory before
the gateway starts: prometheus_client then keeps each process's samples in files there and
/metrics adds them up (see docs/operations.md).

Access: `Authorization: Bearer <METRICS_TOKEN>` for Prometheus (the whole deployment), or a
logged-in operator or manager for a person, who sees the account counts of their own
organisation only (shared.permissions). Without METRICS_TOKEN set, only the session works:
metrics are never open.
"""

from __future__ import annotations

import hmac
import os
import time

import peewee
from flask import Flask, Response, current_app, g, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from shared import observability, permissions
from shared.models import CustomerAccount
from shared.visibility import visible_accounts

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
#: One registry per process, created once: create_app may run many times (tests), metrics may not.
REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "kamflow_http_requests",
    "HTTP requests answered by the gateway.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "kamflow_http_request_duration_seconds",
    "Time to answer a request.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


class AccountsCollector:
    """Accounts accepted and accounts by status, counted in the database when scraped: all of
    them, or those of `scope` (a person's organisation)."""

    def __init__(self, scope: peewee.ModelSelect | None = None):
        self.scope = scope

    def collect(self):
        with_db = not self._closed()
        total = (self.scope if self.scope is not None else CustomerAccount.select()).count() if with_db else 0
        accepted = CounterMetricFamily(
            "kamflow_accounts_accepted", "Customer accounts accepted (stored), by either door."
        )
        accepted.add_metric([], total)
        yield accepted
        by_status = GaugeMetricFamily("kamflow_accounts", "Customer accounts by status.", labels=["status"])
        for status, n in (observability.accounts_by_status(self.scope) if with_db else {}).items():
            by_status.add_metric([status], n)
        yield by_status

    @staticmethod
    def _closed() -> bool:
        from shared.db import database

        try:
            database.connect(reuse_if_open=True)
            return False
        except peewee.DatabaseError:
            return True


def _endpoint() -> str:
    return request.url_rule.rule if request.url_rule else "unmatched"


#: The methods counted by name; any other (a client may send any token as its method) counts as
#: "other": each label value is a series kept for the process's life, so a label must take a
#: bounded set of values, as the endpoint (the URL rule) and the status do.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method() -> str:
    return request.method if request.method in KNOWN_METHODS else "other"


def _caller() -> str | None:
    """ "prometheus" (METRICS_TOKEN), "person" (an operator's or manager's session) or None."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return "prometheus"
    if current_user and current_user.is_authenticated and permissions.may(current_user.role, permissions.METRICS):
        return "person"
    return None


class _RequestMetrics:
    """The gateway's request counters and latencies (no tenant data), for a scoped scrape."""

    def collect(self):
        yield from REQUESTS.collect()
        yield from LATENCY.collect()


def scrape(scope: peewee.ModelSelect | None = None) -> bytes:
    """The exposition: the gateway's requests, and the accounts of `scope` (None: all)."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    elif scope is None:
        return generate_latest(REGISTRY)
    else:  # a person: their organisation's accounts beside the gateway's own requests
        registry.register(_RequestMetrics())
    registry.register(AccountsCollector(scope))
    return generate_latest(registry)


def init_app(app: Flask) -> None:
    app.config.setdefault("METRICS_TOKEN", app.config["KAMFLOW"].metrics_token)
    if not MULTIPROCESS and not getattr(REGISTRY, "_kamflow_accounts", False):
        REGISTRY.register(AccountsCollector())
        REGISTRY._kamflow_accounts = True

    @app.before_request
    def start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count(response):
        endpoint, method = _endpoint(), _method()
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = g.pop("metrics_started", None)
        if started is not None:
            LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics():
        caller = _caller()
        if caller is None:
            return Response(
                "metrics need `Authorization: Bearer <METRICS_TOKEN>` or an operator's or manager's session\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
            )
        scope = visible_accounts(current_user.user) if caller == "person" else None
        return Response(scrape(scope), 200, {"Content-Type": CONTENT_TYPE_LATEST})
