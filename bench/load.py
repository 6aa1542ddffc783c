"""The CRM side of the bench: client threads posting accounts, then waiting for their outcome.

Each of `concurrency` threads sends its next request as soon as the last one answered (closed
loop, as fast as the gateway takes them) or, given a rate, when that request's slot comes
(request i at start + i/rate), over plain urllib on loopback. Outcomes are read from the
database (the account's `updated_at` when it became final is the worker's own clock, on this
same machine), so waiting adds no load on the gateway.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import queue
import threading
import time
import urllib.error
import urllib.request

from peewee import fn

from bench.deadline import Deadline
from shared import workflow
from shared.db import database
from shared.models import CustomerAccount, StageAttempt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclasses.dataclass
class Posted:
    index: int
    sent_at: dt.datetime  # UTC, naive, like the database's timestamps
    latency_s: float
    status: int
    account_id: int | None = None
    error: str | None = None


@dataclasses.dataclass
class PostRun:
    posted: list[Posted]
    span_s: float  # first request sent to last answer received

    @property
    def accepted(self) -> list[Posted]:
        return [p for p in self.posted if p.status == 202 and p.account_id]


def _call(
    base_url: str, token: str, method: str, path: str, body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict | None]:
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None


def post_accounts(
    base_url: str,
    token: str,
    bodies: list[tuple[str, dict]],
    concurrency: int,
    deadline: Deadline,
    rate: float | None = None,
) -> PostRun:
    """POST every (idempotency key, body) from `concurrency` threads, at most `rate` a second
    when given; every answer is kept."""
    todo: queue.Queue = queue.Queue()
    for index, item in enumerate(bodies):
        todo.put((index, *item))
    posted: list[Posted] = []
    lock = threading.Lock()
    # Each thread first makes one cheap authenticated call, so the clock starts on a warm gateway.
    clock = {}
    ready = threading.Barrier(concurrency + 1, action=lambda: clock.setdefault("start", time.perf_counter()))

    def client():
        _call(base_url, token, "GET", "/api/v1/markets")
        ready.wait()
        while not deadline.passed():
            try:
                index, key, body = todo.get_nowait()
            except queue.Empty:
                return
            if rate:
                time.sleep(max(0.0, clock["start"] + index / rate - time.perf_counter()))
            sent_at, started = utcnow(), time.perf_counter()
            try:
                status, answer = _call(
                    base_url, token, "POST", "/api/v1/customer-accounts", body, {"Idempotency-Key": key}
                )
                error = None if status == 202 else json.dumps(answer)[:300]
            except OSError as failure:
                status, answer, error = 0, None, str(failure)
            result = Posted(
                index,
                sent_at,
                time.perf_counter() - started,
                status,
                (answer or {}).get("id") if status == 202 else None,
                error,
            )
            with lock:
                posted.append(result)

    threads = [threading.Thread(target=client, daemon=True, name=f"bench-client-{n}") for n in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=max(deadline.remaining(), 1))
    for thread in threads:
        thread.join(timeout=max(deadline.remaining(), 0.1))
    span = time.perf_counter() - clock["start"]
    deadline.check("posting accounts")
    return PostRun(sorted(posted, key=lambda p: p.index), span)


def wait_final(account_ids: list[int], deadline: Deadline, alive_checks=()) -> dict[int, tuple[str, dt.datetime]]:
    """Block until every account is in a final status: {id: (status, when it got there)}.

    While it waits it only counts, on one connection kept for the wait, the final accounts in
    the batch's range of ids: the machine it measures should not be busy with the watching. It
    read the status of every account still missing (a query naming up to 500 ids) ten times a
    second, on a new connection each time, a twentieth of the machine's CPU in a drain. The
    statuses are read once the count says they may all be final (and again, for what is
    missing, if accounts outside the batch were in the range)."""
    final: dict[int, tuple[str, dt.datetime]] = {}
    missing = set(account_ids)
    done = list(workflow.FINAL_STATUSES)
    low, high = (min(missing), max(missing)) if missing else (0, 0)
    with database.connection_context():
        while missing:
            for check in alive_checks:
                check()
            in_range = (
                CustomerAccount.select()
                .where(CustomerAccount.id.between(low, high) & CustomerAccount.status.in_(done))
                .count()
            )
            if in_range - len(final) >= len(missing):
                for chunk in _chunks(sorted(missing), 500):
                    rows = (
                        CustomerAccount.select(CustomerAccount.id, CustomerAccount.status, CustomerAccount.updated_at)
                        .where(CustomerAccount.id.in_(chunk) & CustomerAccount.status.in_(done))
                        .tuples()
                    )
                    for account_id, status, updated_at in rows:
                        final[account_id] = (status, updated_at)
                        missing.discard(account_id)
            if missing:
                deadline.check(f"waiting for {len(missing)} of {len(account_ids)} accounts to finish")
                time.sleep(0.1)
    return final


def first_stage_start(account_ids: list[int]) -> dt.datetime | None:
    """When a worker first started a stage of any of these accounts."""
    with database.connection_context():
        starts = [
            StageAttempt.select(fn.MIN(StageAttempt.started_at)).where(StageAttempt.account.in_(chunk)).scalar()
            for chunk in _chunks(account_ids, 500)
        ]
    # SQLite hands back an aggregate of a DateTimeField as the stored text.
    starts = [StageAttempt.started_at.python_value(s) if isinstance(s, str) else s for s in starts if s]
    return min(starts) if starts else None


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]
