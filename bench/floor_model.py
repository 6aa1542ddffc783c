"""The durable floor's one table: a row per chain, its step moved on by one conditional UPDATE
per actor (bench.floor_actors). Created in the bench's own database, beside kamflow's tables."""

from __future__ import annotations

import peewee as pw

from shared.db import database


class FloorChain(pw.Model):
    step = pw.IntegerField(default=0)
    started_at = pw.DateTimeField(null=True)
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        database = database
        table_name = "bench_floor_chain"
