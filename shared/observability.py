"""What an operator needs to see, as plain values: queue depths read from the broker itself,
the workers alive, per-stage throughput and durations, accounts by status, the failed and
rejected accounts, and an account's timeline.

/ops, `kamflow status` and the health checks all read through here, so the page and the
terminal never disagree. Account queries take an optional `accounts` query to scope them (a
manager sees their organisation); None means every account (an operator).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import time
from collections.abc import Iterable
from typing import Any, cast

import peewee
import redis

from shared import queues, workflow
from shared.models import CustomerAccount, Organisation, StageAttempt, StageRun, utcnow

#: Where each worker process describes itself (host, pid, threads, queues), by broker id.
WORKERS_KEY = "kamflow:workers"
#: A worker whose broker has not touched Redis for this long is shown as silent.
ALIVE_WITHIN_MS = 15_000
#: A silent worker's registration is dropped after this long (a killed process never says bye).
FORGET_AFTER_MS = 3600 * 1000
STATS_WINDOW = dt.timedelta(hours=1)


# --- the broker -------------------------------------------------------------------------------


def queue_depths(client: redis.Redis) -> list[dict]:
    """Ready, delayed and dead-lettered messages per queue, read from Redis in one round trip."""
    names = queues.queue_names()
    pipe = client.pipeline(transaction=False)
    for queue in names:
        pipe.llen(queues.ready_key(queue))
        pipe.llen(queues.delayed_key(queue))
        pipe.zcard(queues.dead_key(queue))
    counts = pipe.execute()
    return [
        {"queue": queue, "ready": counts[3 * i], "delayed": counts[3 * i + 1], "dead": counts[3 * i + 2]}
        for i, queue in enumerate(names)
    ]


def register_worker(client: redis.Redis, broker_id: str, threads: int, queue_names: list[str] | None) -> dict:
    """A worker process says who it is; Dramatiq's own heartbeat (every broker command stamps
    `dramatiq:__heartbeats__` with the broker id) then tells whether it is still alive."""
    import os

    info = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threads": threads,
        "queues": sorted(queue_names) if queue_names else ["(all)"],
        "started_at": int(time.time() * 1000),
    }
    client.hset(WORKERS_KEY, broker_id, json.dumps(info))
    return info


def unregister_worker(client: redis.Redis, broker_id: str) -> None:
    """Forget the worker process `broker_id` (it is stopping); unknown ids are ignored."""
    client.hdel(WORKERS_KEY, broker_id)


def workers(client: redis.Redis, alive_within_ms: int | None = None, now_ms: int | None = None) -> list[dict]:
    """Every registered worker process with its last heartbeat; long-silent ones are forgotten."""
    alive_within_ms = alive_within_ms or ALIVE_WITHIN_MS
    now_ms = now_ms or int(time.time() * 1000)
    registered = client.hgetall(WORKERS_KEY)
    if not registered:
        return []
    ids = list(registered)
    pipe = client.pipeline(transaction=False)
    for broker_id in ids:
        pipe.zscore(queues.HEARTBEATS_KEY, broker_id)
    beats = pipe.execute()
    found, forgotten = [], []
    for broker_id, beat in zip(ids, beats, strict=True):
        info = json.loads(registered[broker_id])
        last = int(beat) if beat is not None else info["started_at"]
        silent_ms = max(now_ms - last, 0)
        if silent_ms > FORGET_AFTER_MS:
            forgotten.append(broker_id)
            continue
        found.append(
            {
                **info,
                "broker_id": _text(broker_id),
                "silent_s": round(silent_ms / 1000, 1),
                "alive": silent_ms <= alive_within_ms,
            }
        )
    if forgotten:
        client.hdel(WORKERS_KEY, *forgotten)
    return sorted(found, key=lambda w: (not w["alive"], w["host"], w["pid"]))


def workers_summary(found: list[dict]) -> dict:
    """Totals over `workers()`: live processes, their threads and hosts, and how many are silent."""
    alive = [w for w in found if w["alive"]]
    return {
        "processes": len(alive),
        "threads": sum(w["threads"] for w in alive),
        "hosts": len({w["host"] for w in alive}),
        "silent": len(found) - len(alive),
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- the stages -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(fraction * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def stage_stats(window: dt.timedelta = STATS_WINDOW, now: dt.datetime | None = None) -> list[dict]:
    """Per stage, over the attempts that finished in `window`: how many completed the stage
    (done or skipped), were rejected, raised (and were retried) or gave up, and p50/p95 of how
    long an attempt took. Skipped attempts do no work, so they are left out of durations."""
    since = (now or utcnow()) - window
    rows = (
        StageAttempt.select(StageAttempt.stage, StageAttempt.outcome, StageAttempt.started_at, StageAttempt.finished_at)
        .where(StageAttempt.finished_at >= since)
        .tuples()
    )
    stats: dict[str, dict[str, Any]] = {
        name: {"stage": name, "completed": 0, "rejected": 0, "errors": 0, "failed": 0, "durations": []}
        for name in workflow.STAGE_NAMES
    }
    for stage, outcome, started, finished in cast(
        "Iterable[tuple[str, str, dt.datetime, dt.datetime]]", rows
    ):  # peewee's stubs type .tuples() rows as models
        entry = stats.get(stage)
        if entry is None:
            continue
        if outcome in (workflow.DONE, workflow.SKIPPED):
            entry["completed"] += 1
        elif outcome == workflow.STAGE_REJECTED:
            entry["rejected"] += 1
        elif outcome == workflow.RETRYING:
            entry["errors"] += 1
        elif outcome == workflow.STAGE_FAILED:
            entry["failed"] += 1
        if outcome != workflow.SKIPPED and started and finished:
            entry["durations"].append(max((finished - started).total_seconds(), 0.0))
    minutes = window.total_seconds() / 60
    result = []
    for entry in stats.values():
        durations = sorted(entry.pop("durations"))
        entry["per_minute"] = round((entry["completed"] + entry["rejected"]) / minutes, 2)
        entry["p50_s"] = percentile(durations, 0.50)
        entry["p95_s"] = percentile(durations, 0.95)
        result.append(entry)
    return result


# --- the accounts -----------------------------------------------------------------------------


def _scoped(accounts: peewee.ModelSelect[CustomerAccount] | None) -> peewee.ModelSelect[CustomerAccount]:
    return accounts if accounts is not None else CustomerAccount.select()


def accounts_by_status(accounts: peewee.ModelSelect[CustomerAccount] | None = None) -> dict[str, int]:
    """How many accounts (of `accounts`, by default all) are in each status; every status is
    present, 0 when none."""
    counts = dict.fromkeys(workflow.STATUSES, 0)
    rows = (
        _scoped(accounts)
        .select(CustomerAccount.status, peewee.fn.COUNT(CustomerAccount.id).alias("n"))
        .group_by(CustomerAccount.status)
        .tuples()
    )
    for status, n in cast("Iterable[tuple[str, int]]", rows):  # peewee's stubs type .tuples() rows as models
        counts[status] = n
    return counts


def problem_accounts(accounts: peewee.ModelSelect[CustomerAccount] | None = None, limit: int = 50) -> list[dict]:
    """Failed and rejected accounts, most recent first, with the stage that stopped them, its
    error and how many attempts it took."""
    stopped_at = StageRun.state.in_([workflow.STAGE_FAILED, workflow.STAGE_REJECTED])
    query = (
        _scoped(accounts)
        .select(
            CustomerAccount.id,
            CustomerAccount.company,
            CustomerAccount.status,
            CustomerAccount.updated_at,
            Organisation.slug,
            StageRun.stage,
            StageRun.error,
            StageRun.attempts,
        )
        .join(Organisation, on=(CustomerAccount.organisation == Organisation.id))
        .switch(CustomerAccount)
        .join(StageRun, peewee.JOIN.LEFT_OUTER, on=((StageRun.account == CustomerAccount.id) & stopped_at))
        .where(CustomerAccount.status.in_([workflow.FAILED, workflow.REJECTED]))
        .order_by(CustomerAccount.updated_at.desc(), CustomerAccount.id.desc())
        .limit(limit)
        .tuples()
    )
    return [
        {
            "id": id_,
            "company": company,
            "status": status,
            "updated_at": updated,
            "organisation": slug,
            "stage": stage,
            "error": error,
            "attempts": attempts or 0,
            "retryable": status == workflow.FAILED,
        }
        for id_, company, status, updated, slug, stage, error, attempts in cast(
            "Iterable[tuple[int, str, str, dt.datetime, str, str | None, str | None, int | None]]", query
        )  # peewee's stubs type .tuples() rows as models
    ]


def timeline(account: CustomerAccount) -> dict:
    """Every attempt of every stage of the account, in the order they ran. The caller found the
    account and checked who may see it (shared.visibility.visible_account)."""
    account_id = account.id
    attempts = []
    for a in (
        StageAttempt.select()
        .where(StageAttempt.account == account_id)
        .order_by(StageAttempt.started_at, StageAttempt.id)
    ):
        duration = (a.finished_at - a.started_at).total_seconds() if a.finished_at else None
        attempts.append(
            {
                "stage": a.stage,
                "attempt": a.attempt,
                "worker": a.worker,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
                "duration_s": duration,
                "outcome": a.outcome,
                "error": a.error,
            }
        )
    order = {name: i for i, name in enumerate(workflow.STAGE_NAMES)}
    runs = sorted(StageRun.select().where(StageRun.account == account_id), key=lambda r: order.get(r.stage, 99))
    return {
        "id": account.id,
        "company": account.company,
        "status": account.status,
        "organisation": account.organisation.slug,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "stages": [{"stage": r.stage, "state": r.state, "attempts": r.attempts, "error": r.error} for r in runs],
        "attempts": attempts,
    }
