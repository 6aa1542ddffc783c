"""One phase of the bench = one batch of accounts and the figures it yields.

- `accept`: POST the batch with no worker running (the gateway alone); the accounts stay pending.
- `drain`: start workers on that backlog; throughput from a worker's first stage start to the
  last account final: the workflow's capacity, with no API traffic. The ratios come from these.
- `live`: POST a new batch at a steady rate below capacity while workers run: each account's
  latency from its POST to `active` (what a CRM sees on a normal day), the API under load, and
  whether the workers keep up (active/s close to the offered rate). Every live phase of a run
  gets the same rate, so their latencies compare.
"""

from __future__ import annotations

import secrets

from bench import bodies, load, stats
from bench.deadline import Deadline
from bench.stack import Stack


def new_batch(count: int, access: bool) -> list[tuple[str, dict]]:
    """(Idempotency-Key, body) pairs for `count` new customers."""
    tag = secrets.token_hex(3)
    return [(f"bench-{tag}-{i}", bodies.account_request(tag, i, access)) for i in range(count)]


def post_figures(run: load.PostRun, count: int) -> dict:
    latencies = [p.latency_s for p in run.posted]
    rejected = [p for p in run.posted if p.status != 202 or not p.account_id]
    return {
        "accounts": count,
        "accepted": len(run.accepted),
        "refused": len(rejected),
        "first_refusal": (f"{rejected[0].status} {rejected[0].error}" if rejected else None),
        "accept_per_s": stats.rate(len(run.accepted), run.span_s),
        "post_p50_ms": stats.milliseconds(stats.percentile(latencies, 50)),
        "post_p95_ms": stats.milliseconds(stats.percentile(latencies, 95)),
    }


def _outcomes(final: dict) -> dict:
    statuses = [status for status, _ in final.values()]
    return {status: statuses.count(status) for status in ("active", "rejected", "failed")}


def accept(stack: Stack, count: int, concurrency: int, access: bool, deadline: Deadline) -> tuple[dict, list[int]]:
    run = load.post_accounts(stack.base_url, stack.token, new_batch(count, access), concurrency, deadline)
    figures = {"phase": "accept", "workers": 0, "access": access, **post_figures(run, count)}
    return figures, [p.account_id for p in run.accepted]


def drain(backlog: list[int], processes: int, access: bool, pool, deadline: Deadline) -> dict:
    final = load.wait_final(backlog, deadline, alive_checks=[pool.check_alive])
    first = load.first_stage_start(backlog)
    last = max((at for _, at in final.values()), default=None)
    span = (last - first).total_seconds() if first and last else None
    active = _outcomes(final)["active"]
    return {
        "phase": "drain",
        "workers": processes,
        "access": access,
        "accounts": len(backlog),
        **_outcomes(final),
        "flow_per_s": stats.rate(active, span),
        "span_s": span,
    }


def live(
    stack: Stack, count: int, concurrency: int, processes: int, access: bool, rate: float, pool, deadline: Deadline
) -> dict:
    run = load.post_accounts(stack.base_url, stack.token, new_batch(count, access), concurrency, deadline, rate)
    ids = [p.account_id for p in run.accepted]
    final = load.wait_final(ids, deadline, alive_checks=[pool.check_alive])
    sent = {p.account_id: p.sent_at for p in run.accepted}
    to_active = [(at - sent[i]).total_seconds() for i, (status, at) in final.items() if status == "active"]
    first = min(sent.values(), default=None)
    last = max((at for _, at in final.values()), default=None)
    span = (last - first).total_seconds() if first and last else None
    outcomes = _outcomes(final)
    return {
        "phase": "live",
        "workers": processes,
        "access": access,
        "offered_per_s": rate,
        **post_figures(run, count),
        **outcomes,
        "flow_per_s": stats.rate(outcomes["active"], span),
        "span_s": span,
        "e2e_p50_ms": stats.milliseconds(stats.percentile(to_active, 50)),
        "e2e_p95_ms": stats.milliseconds(stats.percentile(to_active, 95)),
    }
