"""The engine's own floors, as Dramatiq actors on kamflow's broker setup (shared.broker: the
same Redis broker, middleware and settings), without kamflow's stages or middleware:

- `floor_noop_1..4`: a chain of four actors that do nothing but send the next one;
- `floor_durable_1..4`: the least any durable 4-stage workflow pays: each actor, in one
  transaction, reads its chain's row and moves its step on with one conditional UPDATE
  (`... WHERE step = previous`, the guard that makes a redelivery harmless), then sends the next.

`dramatiq bench.floor_actors --processes N --threads T`, with the stack's environment. The
no-op chain reports to Redis (one push when a process first starts a chain, one per finished
chain); the durable chain's timestamps are in its rows.
"""

from __future__ import annotations

import threading
import time

import dramatiq
import redis

from bench.floor_actors_keys import FIRSTS_KEY, LASTS_KEY, STEPS
from bench.floor_model import FloorChain
from shared import broker as broker_setup
from shared import db
from shared.config import Settings
from shared.db import database
from shared.models import utcnow

settings = Settings.from_env()
db.bind(settings.database_url)
broker = broker_setup.setup(settings)
_client = redis.Redis.from_url(settings.redis_url)
_first = threading.Event()


def _noop(step: int):
    def run(chain_id: int) -> None:
        if step == 1 and not _first.is_set():
            _first.set()
            _client.rpush(FIRSTS_KEY, time.time())
        if step < STEPS:
            broker_setup.send(f"floor_noop_{step + 1}", chain_id)
        else:
            _client.rpush(LASTS_KEY, time.time())

    return run


def _durable(step: int):
    def run(chain_id: int) -> None:
        # The connection handled as kamflow's stage messages handle theirs (one kept per worker
        # thread on SQLite, the pool's on PostgreSQL, given back with db.release): a floor that
        # opened an SQLite connection per message would pay what no workflow needs to.
        if database.is_closed():
            database.connect()
        try:
            with database.atomic():
                current = FloorChain.select(FloorChain.step).where(FloorChain.id == chain_id).scalar()
                if current != step - 1:
                    moved = 0
                else:
                    fields = {"step": step}
                    if step == 1:
                        fields["started_at"] = utcnow()
                    if step == STEPS:
                        fields["finished_at"] = utcnow()
                    moved = (
                        FloorChain.update(**fields)
                        .where((FloorChain.id == chain_id) & (FloorChain.step == step - 1))
                        .execute()
                    )
        except BaseException:
            database.close()
            raise
        db.release()
        if moved and step < STEPS:
            broker_setup.send(f"floor_durable_{step + 1}", chain_id)

    return run


for _step in range(1, STEPS + 1):
    for _kind, _make in (("noop", _noop), ("durable", _durable)):
        _name = f"floor_{_kind}_{_step}"
        _fn = _make(_step)
        _fn.__name__ = _name
        dramatiq.actor(_fn, broker=broker, actor_name=_name, queue_name=_name)
