"""The floors measured beside kamflow in the same run, on the same parts and settings:

- the bare JSON endpoint (bench.floor_app) under the same gunicorn settings, posted the same
  bodies by the same client threads: what any Flask JSON POST costs here;
- the bare 4-actor no-op chain and the durable 4-actor chain (bench.floor_actors), with the same
  `dramatiq --processes N --threads T`, drained from a backlog as kamflow's drain phase is: from
  the first actor started to the last chain finished.

kamflow's figures over these are the ratios (bench.report): how close it runs to what the
engine, the app server and the database cost by themselves.
"""

from __future__ import annotations

import contextlib
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench import load, phases, processes, stats
from bench.deadline import Deadline
from bench.floor_actors_keys import FIRSTS_KEY, LASTS_KEY, STEPS
from bench.floor_model import FloorChain
from bench.stack import Stack
from kamflow.embedded_redis import free_port
from shared.db import database


def bare_endpoint(stack: Stack, count: int, concurrency: int, access: bool, deadline: Deadline) -> dict:
    port = free_port()
    child = processes.start_gateway(
        stack.env,
        port,
        stack.gateway_workers,
        stack.directory,
        app="bench.floor_app:app",
        name="bare endpoint (gunicorn)",
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        processes.wait_http_ok(f"{base_url}/api/v1/markets", child, deadline)
        run = load.post_accounts(base_url, "none", phases.new_batch(count, access), concurrency, deadline)
    finally:
        child.stop()
    return {"floor": "endpoint", "gateway_workers": stack.gateway_workers, **phases.post_figures(run, count)}


@contextlib.contextmanager
def _pool(stack: Stack, count: int):
    pool = processes.start_workers(
        stack.env,
        count,
        stack.worker_threads,
        stack.directory,
        module="bench.floor_actors",
        name=f"floor workers ({count} process(es))",
    )
    try:
        yield pool
    finally:
        pool.stop()


def _enqueue(redis_url: str, actor_name: str, ids) -> None:
    sender = RedisBroker(url=redis_url, middleware=[])
    try:
        for chain_id in ids:
            sender.enqueue(
                dramatiq.Message(queue_name=actor_name, actor_name=actor_name, args=(chain_id,), kwargs={}, options={})
            )
    finally:
        sender.close()


def noop_chain(stack: Stack, count: int, workers: int, deadline: Deadline) -> dict:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        client.delete(FIRSTS_KEY, LASTS_KEY)
        _enqueue(stack.redis_url, "floor_noop_1", range(count))
        with _pool(stack, workers) as pool:
            while client.llen(LASTS_KEY) < count:
                pool.check_alive()
                deadline.check(f"waiting for {count} no-op chains")
                time.sleep(0.05)
        firsts = [float(t) for t in client.lrange(FIRSTS_KEY, 0, -1)]
        lasts = [float(t) for t in client.lrange(LASTS_KEY, 0, -1)]
    finally:
        client.close()
    span = max(lasts) - min(firsts)
    return {
        "floor": "noop_chain",
        "workers": workers,
        "chains": count,
        "chains_per_s": stats.rate(count, span),
        "span_s": span,
    }


def durable_chain(stack: Stack, count: int, workers: int, deadline: Deadline) -> dict:
    with database.connection_context():
        database.create_tables([FloorChain], safe=True)
        with database.atomic():
            FloorChain.delete().execute()
            for start in range(0, count, 500):
                FloorChain.insert_many([{"step": 0}] * min(500, count - start)).execute()
        ids = [row for (row,) in FloorChain.select(FloorChain.id).tuples()]
    _enqueue(stack.redis_url, "floor_durable_1", ids)
    with (
        _pool(stack, workers) as pool,
        database.connection_context(),
    ):  # one connection for the wait, as kamflow's drain
        while True:
            done = FloorChain.select().where(FloorChain.step == STEPS).count()
            if done >= count:
                break
            pool.check_alive()
            deadline.check(f"waiting for {count - done} of {count} durable chains")
            time.sleep(0.05)
    with database.connection_context():
        first = FloorChain.select(FloorChain.started_at).order_by(FloorChain.started_at).limit(1).scalar()
        last = FloorChain.select(FloorChain.finished_at).order_by(FloorChain.finished_at.desc()).limit(1).scalar()
    span = (last - first).total_seconds()
    return {
        "floor": "durable_chain",
        "workers": workers,
        "chains": count,
        "chains_per_s": stats.rate(count, span),
        "span_s": span,
    }
