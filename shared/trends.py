"""How things moved over the last hour or day, for the charts of /ops: accounts accepted and
reaching active per minute, each stage's p95 duration, and the queue depths.

Accounts and stage attempts are in the database, so their series are computed from it. Queue
depths exist only as Redis' present state, so they are sampled: each reconciler pass (about every
RECONCILE_INTERVAL_S, one pass at a time across workers) and each /ops view records one, at
most one per SAMPLE_EVERY_S, in a capped Redis list kept a day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import cast

import peewee
import redis

from shared import workflow
from shared.models import CustomerAccount, StageAttempt, utcnow
from shared.observability import percentile

SAMPLES_KEY = "kamflow:queue-depth-samples"
SAMPLE_GATE_KEY = "kamflow:queue-depth-sample-gate"
SAMPLE_EVERY_S = 10
KEEP_SAMPLES = 24 * 3600 // SAMPLE_EVERY_S


@dataclasses.dataclass(frozen=True)
class Window:
    """A time span of the ops charts and how it is cut into buckets."""

    name: str
    label: str
    span: dt.timedelta
    bucket: dt.timedelta  # for counts and depths
    duration_bucket: dt.timedelta  # for p95: wider, so each holds enough attempts to mean something


WINDOWS = {
    "hour": Window("hour", "last hour", dt.timedelta(hours=1), dt.timedelta(minutes=1), dt.timedelta(minutes=5)),
    "day": Window("day", "last day", dt.timedelta(days=1), dt.timedelta(minutes=30), dt.timedelta(hours=2)),
}


def bucket_starts(window: Window, bucket: dt.timedelta, now: dt.datetime) -> list[dt.datetime]:
    """The start of each bucket, oldest first, the last one holding `now`."""
    count = int(window.span / bucket)
    step = bucket.total_seconds()
    end = dt.datetime.fromtimestamp((now.replace(tzinfo=dt.UTC).timestamp() // step + 1) * step, dt.UTC).replace(
        tzinfo=None
    )
    return [end - bucket * (count - i) for i in range(count)]


def _index(moment: dt.datetime, starts: list[dt.datetime], bucket: dt.timedelta) -> int | None:
    if moment < starts[0]:
        return None
    index = int((moment - starts[0]) / bucket)
    return index if index < len(starts) else None


def accounts_per_minute(
    window: Window, accounts: peewee.ModelSelect[CustomerAccount] | None = None, now: dt.datetime | None = None
) -> dict:
    """Per bucket, accounts accepted and accounts reaching active (again, after an edit or a
    resend, counts too: the workflow did the work), as a rate per minute."""
    now = now or utcnow()
    starts = bucket_starts(window, window.bucket, now)
    scope = (accounts if accounts is not None else CustomerAccount.select()).select(CustomerAccount.id)
    accepted = [0.0] * len(starts)
    created_at = scope.select(CustomerAccount.created_at).where(CustomerAccount.created_at >= starts[0]).tuples()
    for (created,) in cast("Iterable[tuple[dt.datetime]]", created_at):  # peewee's stubs type .tuples() rows as models
        if (i := _index(created, starts, window.bucket)) is not None:
            accepted[i] += 1
    last = workflow.STAGE_NAMES[-1]
    reached = [0.0] * len(starts)
    rows = (
        StageAttempt.select(StageAttempt.finished_at)
        .where(
            (StageAttempt.stage == last)
            & StageAttempt.outcome.in_([workflow.DONE, workflow.SKIPPED])
            & (StageAttempt.finished_at >= starts[0])
            & StageAttempt.account.in_(scope)
        )
        .tuples()
    )
    for (finished,) in cast("Iterable[tuple[dt.datetime]]", rows):  # peewee's stubs type .tuples() rows as models
        if (i := _index(finished, starts, window.bucket)) is not None:
            reached[i] += 1
    minutes = window.bucket.total_seconds() / 60
    return {"starts": starts, "accepted": [n / minutes for n in accepted], "active": [n / minutes for n in reached]}


def stage_p95(window: Window, now: dt.datetime | None = None) -> dict:
    """Per stage and bucket, the p95 of how long an attempt took, in seconds (None: no attempt).
    Skipped attempts do no work and are left out, as in the stages table."""
    now = now or utcnow()
    starts = bucket_starts(window, window.duration_bucket, now)
    durations: dict[str, list[list[float]]] = {name: [[] for _ in starts] for name in workflow.STAGE_NAMES}
    rows = (
        StageAttempt.select(StageAttempt.stage, StageAttempt.started_at, StageAttempt.finished_at)
        .where((StageAttempt.finished_at >= starts[0]) & (StageAttempt.outcome != workflow.SKIPPED))
        .tuples()
    )
    for stage, started, finished in cast(
        "Iterable[tuple[str, dt.datetime, dt.datetime]]", rows
    ):  # peewee's stubs type .tuples() rows as models
        if stage in durations and (i := _index(finished, starts, window.duration_bucket)) is not None:
            durations[stage][i].append(max((finished - started).total_seconds(), 0.0))
    return {
        "starts": starts,
        "stages": {
            name: [percentile(sorted(values), 0.95) for values in buckets] for name, buckets in durations.items()
        },
    }


def record_queue_depths(client: redis.Redis, depths: list[dict], now_s: float | None = None) -> bool:
    """Keep one sample of the queue depths (ready and delayed, summed over queues), at most one
    per SAMPLE_EVERY_S whoever calls; returns whether this one was kept."""
    if not client.set(SAMPLE_GATE_KEY, "1", nx=True, px=SAMPLE_EVERY_S * 1000):
        return False
    sample = {
        "t": now_s if now_s is not None else time.time(),
        "ready": sum(q["ready"] for q in depths),
        "delayed": sum(q["delayed"] for q in depths),
    }
    pipe = client.pipeline(transaction=False)
    pipe.lpush(SAMPLES_KEY, json.dumps(sample))
    pipe.ltrim(SAMPLES_KEY, 0, KEEP_SAMPLES - 1)
    pipe.execute()
    return True


def queue_depth(client: redis.Redis, window: Window, now: dt.datetime | None = None) -> dict:
    """Per bucket, the largest sampled depth (ready, delayed) in it; None where nothing was sampled."""
    now = now or utcnow()
    starts = bucket_starts(window, window.bucket, now)
    ready: list[float | None] = [None] * len(starts)
    delayed: list[float | None] = [None] * len(starts)
    for raw in client.lrange(SAMPLES_KEY, 0, KEEP_SAMPLES - 1):
        sample = json.loads(raw)
        moment = dt.datetime.fromtimestamp(sample["t"], dt.UTC).replace(tzinfo=None)
        if (i := _index(moment, starts, window.bucket)) is None:
            continue
        ready[i] = max(ready[i] or 0, sample["ready"])
        delayed[i] = max(delayed[i] or 0, sample["delayed"])
    return {"starts": starts, "ready": ready, "delayed": delayed}
