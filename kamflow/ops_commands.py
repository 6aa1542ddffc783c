"""The operator's commands: `kamflow status`, `kamflow retry`, `kamflow requeue-dead`.

They print what /ops shows and do what its buttons do, through the same functions in
`shared.observability` and `shared.dead_letters`. Bulk actions show a progress bar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click
import redis

from kamflow.command_context import ACCOUNT_ID, bind_database, fail
from shared import db
from shared.config import Settings


def _broker(settings: Settings):
    """The broker (for sending) and its Redis client (for reading queues)."""
    from shared import broker as broker_setup

    if not settings.redis_url:
        fail("set REDIS_URL to the broker the workers use (beside `make run`, it is found in var/ by itself)")
    return broker_setup.setup(settings)


def _seconds(value) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"


@click.command()
def status():
    """Accounts by status, queue depths, workers alive and stage throughput (last hour)."""
    from shared import observability

    settings = bind_database()
    with db.database.connection_context():
        counts = observability.accounts_by_status()
        stages = observability.stage_stats()
    click.echo("accounts by status")
    for name, count in counts.items():
        click.echo(f"  {name:<22}{count:>8}")
    click.echo("")
    click.echo(
        f"{'stage (last hour)':<24}{'done':>7}{'/min':>7}{'rejected':>9}{'errors':>7}{'gave up':>8}{'p50':>8}{'p95':>8}"
    )
    for s in stages:
        click.echo(
            f"  {s['stage']:<22}{s['completed']:>7}{s['per_minute']:>7}{s['rejected']:>9}{s['errors']:>7}"
            f"{s['failed']:>8}{_seconds(s['p50_s']):>8}{_seconds(s['p95_s']):>8}"
        )
    click.echo("")
    if not settings.redis_url:
        click.echo("queues: REDIS_URL is not set and no `make run` is running here, so the broker cannot be read")
        return
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        depths = observability.queue_depths(client)
        found = observability.workers(client)
    except redis.RedisError as error:
        click.echo(f"queues: broker unreachable ({error})")
        return
    click.echo(f"{'queue':<24}{'ready':>8}{'delayed':>9}{'dead':>7}")
    for depth in depths:
        click.echo(f"  {depth['queue']:<22}{depth['ready']:>8}{depth['delayed']:>9}{depth['dead']:>7}")
    click.echo("")
    summary = observability.workers_summary(found)
    click.echo(
        f"workers: {summary['processes']} process(es) alive on {summary['hosts']} host(s), "
        f"{summary['threads']} threads" + (f", {summary['silent']} silent" if summary["silent"] else "")
    )
    for w in found:
        state = f"heartbeat {w['silent_s']}s ago" if w["alive"] else f"SILENT for {w['silent_s']}s"
        click.echo(f"  {w['host']}:{w['pid']:<8} {w['threads']:>3} threads  {state}")


@click.command()
@click.argument("account_ids", nargs=-1, type=ACCOUNT_ID)
@click.option("--all-failed", is_flag=True, help="Retry every failed account")
def retry(account_ids, all_failed):
    """Retry failed accounts from the stage that failed (like /ops's Retry button)."""
    from shared import dead_letters, operations, workflow
    from shared.models import CustomerAccount

    if not account_ids and not all_failed:
        fail("name the accounts to retry, or pass --all-failed")
    settings = bind_database()
    broker = _broker(settings)
    with db.database.connection_context():
        # An id named twice is retried once: its second retry would find it running again and
        # report a failure that is not one.
        ids = list(dict.fromkeys(account_ids))
        if all_failed:
            ids += [
                a.id
                for a in CustomerAccount.select(CustomerAccount.id)
                .where(CustomerAccount.status == workflow.FAILED)
                .order_by(CustomerAccount.id)
                if a.id not in ids
            ]
        if not ids:  # --all-failed, and none is: all is well (a scheduled retry exits 0)
            click.echo("no failed account: nothing to retry")
            return
        problems, done = [], []

        def one(account_id):
            try:
                stage = dead_letters.retry_account(broker.client, account_id)
                done.append(f"account {account_id}: {stage} sent again")
            except operations.CannotRetry as error:
                problems.append(str(error))

        with _reporting(done, problems):
            if len(ids) == 1:
                one(ids[0])
            else:
                with click.progressbar(ids, label=f"retrying {len(ids)} account(s)", show_pos=True) as bar:
                    for account_id in bar:
                        one(account_id)
    if problems:
        sys.exit(1)


@click.command("requeue-dead")
@click.argument("message_ids", nargs=-1)
@click.option("--queue", help="Only this queue's dead letters")
@click.option("--all", "everything", is_flag=True, help="Every dead letter (of --queue, if given)")
@click.option("--discard", is_flag=True, help="Discard instead of requeueing")
def requeue_dead(message_ids, queue, everything, discard):
    """List dead-lettered messages, or requeue (or --discard) them, like /ops's buttons.

    MESSAGE_IDS are the ids `kamflow requeue-dead` lists. A stage message whose account is
    failed is retried from the failed stage; anything else goes back on its queue."""
    from shared import dead_letters, operations, queues

    settings = bind_database()
    broker = _broker(settings)
    if queue and queue not in queues.queue_names():
        fail(f"no queue named {queue!r}; queues: {', '.join(queues.queue_names())}")
    try:
        letters = dead_letters.list_dead(broker.client, limit=100_000, queue=queue)
    except redis.RedisError as error:
        fail(f"broker unreachable ({error})")
    if not message_ids and not everything:
        if not letters:
            click.echo("no dead-lettered messages")
            return
        click.echo(f"{'id':<38}{'queue':<20}{'actor':<20}{'account':>8}  error")
        for d in letters:
            click.echo(f"{d.redis_id:<38}{d.queue:<20}{d.actor:<20}{d.account_id or '-':>8}  {d.error}")
        click.echo("requeue with `kamflow requeue-dead ID...` or `--all`; drop with `--discard`")
        return
    by_id = {d.redis_id: d for d in letters}
    message_ids = tuple(dict.fromkeys(message_ids))  # one named twice is acted on once, not "gone already"
    unknown = [m for m in message_ids if m not in by_id]
    if unknown:
        fail(f"no dead letter {', '.join(unknown)} (requeued or discarded already?)")
    chosen = [by_id[m] for m in message_ids] if message_ids else letters
    problems, done = [], []
    verb = "discarding" if discard else "requeueing"
    with (
        _reporting(done, problems),
        db.database.connection_context(),
        click.progressbar(chosen, label=f"{verb} {len(chosen)} message(s)", show_pos=True) as bar,
    ):
        for letter in bar:
            try:
                if discard:
                    dead_letters.discard(broker.client, letter.queue, letter.redis_id)
                    done.append(f"{letter.actor} message {letter.message_id} discarded")
                else:
                    done.append(dead_letters.requeue(broker.client, letter.queue, letter.redis_id))
            except (dead_letters.NotFound, operations.CannotRetry) as error:
                problems.append(str(error))
    if problems:
        sys.exit(1)


@contextlib.contextmanager
def _reporting(done: list[str], problems: list[str]) -> Iterator[None]:
    """Print what was done and what was refused once the block ends, also when Redis or the
    database fails in it: the operator reads what went through before the one line saying what
    failed (`command_context.Commands`), and so what is left to do."""
    try:
        yield
    finally:
        for line in done:
            click.echo(line)
        for problem in problems:
            click.echo(f"error: {problem}", err=True)


def register(group: click.Group) -> None:
    for command in (status, retry, requeue_dead):
        group.add_command(command)
