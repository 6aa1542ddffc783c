"""`python -m bench.counts`: what one account costs, counted instead of timed: per stage
message, the SQL statements, transactions and database connections opened, and the Redis round
trips, of the actor and every middleware around it; and the same for one POST.

Counting does not depend on the machine's load, so a change that removes a statement or a
round trip shows here exactly, where the timed bench (bench.run) only shows it through noise.
It runs everything in this process on real parts — a redis-server, the mail catcher, an SQLite
database (or, with BENCH_POSTGRES_URL, a PostgreSQL database made for the run and dropped) —
with the gateway's app and a `dramatiq.Worker` with one thread, so each count is one message's.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import peewee
import redis.connection

from bench import arguments, databases, phases

_where = threading.local()
COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


#: With --show: each label's statements and commands of its first message (or request).
SHOWN: dict[str, list[str]] = {}
SHOW = False


def _count(what: str, detail=None) -> None:
    label = getattr(_where, "label", None) or "engine (fetch, ack, heartbeats)"
    COUNTS[label][what] += 1
    if SHOW and COUNTS[label]["messages"] <= 1 and label in SHOWN:
        SHOWN[label].append(f"{what[:5]}: {str(detail)[:160]}")


def _wrap(cls, name: str, what: str) -> None:
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        _count(what, args[0] if args else "")
        return original(self, *args, **kwargs)

    setattr(cls, name, counted)


def install_counters() -> None:
    """Count every SQL statement, transaction, connection checkout and Redis round trip, per
    thread, under the label the thread works for."""
    _wrap(peewee.Database, "execute_sql", "sql statements")
    from shared import db

    for cls in (peewee.SqliteDatabase, peewee.PostgresqlDatabase):
        _wrap(cls, "_connect", "db connections opened")  # real ones: a pool's checkout is not counted
    for cls in (peewee.SqliteDatabase, db.PostgresqlPool):  # PostgresqlPool sends BEGIN its own way
        _wrap(cls, "begin", "transactions")
    _wrap(redis.connection.AbstractConnection, "send_packed_command", "redis round trips")


class Label:
    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        _where.label = self.label

    def __exit__(self, *exc):
        _where.label = None


def counting_middleware():
    """First in the broker's list: its before hook runs before every other, its after hook after
    every other, so the message's label covers the whole of the message's processing."""
    from dramatiq import Middleware

    class CountPerMessage(Middleware):
        def before_process_message(self, broker, message):
            _where.label = message.actor_name
            COUNTS[message.actor_name]["messages"] += 1
            SHOWN.setdefault(message.actor_name, [])

        def after_process_message(self, broker, message, *, result=None, exception=None):
            _where.label = None

        after_skip_message = after_process_message

    return CountPerMessage()


def run(database_url: str, redis_url: str, smtp_url: str, accounts: int) -> None:
    import dramatiq

    import workers
    from bench import organisation
    from gateway import create_app
    from shared import db, migrations, workflow
    from shared.config import Settings
    from shared.models import CustomerAccount

    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        smtp_url=smtp_url,
        secret_key=secrets.token_hex(32),
        base_url="http://127.0.0.1:1",
        api_rate_limit="1000000 per minute",
        reconcile_interval_s=3600,
        stall_after_s=7200,
    )
    broker = workers.boot(settings)
    migrations.migrate()
    token, _ = organisation.seed()
    # In-process workers are not booted by the dramatiq CLI: boot the kamflow middleware that
    # only counts once booted, so its cost is counted too (not Dramatiq's exporter).
    for middleware in broker.middleware:
        if type(middleware).__module__ == "workers.metrics" and type(middleware).__name__ != "Prometheus":
            middleware.after_process_boot(broker)
    broker.middleware.insert(0, counting_middleware())
    app = create_app(settings, broker=broker)
    client = app.test_client()
    ids = []
    SHOWN["POST /api/v1/customer-accounts"] = []
    for key, body in phases.new_batch(accounts, access=True):
        COUNTS["POST /api/v1/customer-accounts"]["messages"] += 1
        with Label("POST /api/v1/customer-accounts"):  # the app opens and closes its connection
            answer = client.post(
                "/api/v1/customer-accounts",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )
        assert answer.status_code == 202, answer.get_json()
        ids.append(answer.get_json()["id"])
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with Label("bench polling"), db.database.connection_context():
                done = (
                    CustomerAccount.select()
                    .where(CustomerAccount.id.in_(ids) & CustomerAccount.status.in_(list(workflow.FINAL_STATUSES)))
                    .count()
                )
            if done == len(ids):
                break
            time.sleep(0.2)
        else:
            raise SystemExit("accounts did not finish in 120 s")
    finally:
        worker.stop()
        broker.close()


def render(accounts: int) -> str:
    columns = ["sql statements", "transactions", "db connections opened", "redis round trips"]
    lines = [
        f"{'per message (average over ' + str(accounts) + ' accounts)':<44}" + "".join(f"{c:>24}" for c in columns)
    ]
    for label, counts in COUNTS.items():
        if not counts.get("messages"):
            continue
        lines.append(f"{label:<44}" + "".join(f"{counts[c] / counts['messages']:>24.1f}" for c in columns))
    engine = COUNTS.get("engine (fetch, ack, heartbeats)")
    if engine:
        lines.append(
            f"{'engine (fetch, ack, heartbeats), per account':<44}"
            + "".join(f"{engine[c] / accounts:>24.1f}" for c in columns)
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.counts", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--accounts",
        type=arguments.positive(int, "the value"),
        default=20,
        help="accounts counted per path (default %(default)s)",
    )
    parser.add_argument("--show", action="store_true", help="list each one's statements and commands, once")
    args = parser.parse_args(argv)
    target = os.environ.get("BENCH_POSTGRES_URL")
    if target:
        databases.require_server(target)
    global SHOW
    SHOW = args.show
    from kamflow.embedded_redis import EmbeddedRedis
    from kamflow.mailcatcher import MailCatcher

    with tempfile.TemporaryDirectory(prefix="kamflow-counts-") as tmp:
        (Path(tmp) / "prometheus").mkdir()
        os.environ.setdefault("dramatiq_prom_db", str(Path(tmp) / "prometheus"))
        server = EmbeddedRedis(directory=Path(tmp) / "redis").start()
        mail = MailCatcher(echo=False).start()
        install_counters()
        opener = databases.postgres(target) if target else databases.sqlite(Path(tmp))
        try:
            with opener as url:
                run(url, server.url, mail.url, args.accounts)
                COUNTS.pop(None, None)
                print(f"[{'postgres' if target else 'sqlite'}]")
                print(render(args.accounts))
                for label, shown in SHOWN.items():
                    print(f"\n{label}:\n  " + "\n  ".join(shown))
        finally:
            mail.stop()
            server.stop()
            from shared import db

            if db.database.obj is not None and hasattr(db.database.obj, "close_all"):
                db.database.obj.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
