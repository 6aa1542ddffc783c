"""The one shape every stage actor has: take the account -> run the stage's function -> record
-> hand on, in one transaction.

A stage function takes the account (locked, in the stage's transaction) and the settings and
returns an `Outcome`; it raises for transient errors, which Dramatiq's Retries middleware
retries with backoff. Everything it writes commits with the stage's bookkeeping (the status
moved on, the run and its attempt recorded) or not at all, so a worker killed mid-stage leaves
nothing half-done and Redis hands the message to another worker.

A stage with work outside the database (an email) returns it as the outcome's `effect`: the
transaction commits with the stage shown running (the effect's claim held), the effect is
performed, and a second transaction records it and settles the stage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import dramatiq
import peewee
from dramatiq import Middleware

from shared import account_status, db, stage_runs, webhooks, workflow
from shared.config import Settings
from shared.db import database
from shared.models import CustomerAccount, utcnow
from workers import metrics, writer_queue

log = logging.getLogger(__name__)


class Effect(Protocol):
    """Work a stage does outside the database, once its transaction has committed."""

    def perform(self) -> None:
        """Do it (no transaction is open); raise if it did not happen."""

    def undo(self, error: BaseException) -> None:
        """It did not happen: give back what the stage's transaction took for it (in the
        transaction that records the failure)."""

    def record(self) -> None:
        """It happened: write so, by itself (when the move that settles the stage did not)."""

    def recording(self) -> tuple[account_status.Also, dict[str, object]]:
        """The same write and its values, made with the move that settles the stage if the
        account moves (in the move's statement on PostgreSQL: one round trip fewer)."""

    def record_within_s(self) -> float:
        """For how long recording may be retried through a database outage: past that,
        another run may do the effect again."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    rejected: dict[str, list[str]] | None = None
    waiting_for: str | None = None
    effect: Effect | None = None

    @classmethod
    def done(cls, effect: Effect | None = None) -> Outcome:
        """Done once `effect`, if any, is performed."""
        return cls(effect=effect)

    @classmethod
    def reject(cls, problems: dict[str, list[str]]) -> Outcome:
        return cls(rejected=problems)

    @classmethod
    def wait(cls, reason: str) -> Outcome:
        """Not now, and not a failure: the stage stays due and the reconciler sends it again."""
        return cls(waiting_for=reason)


StageFunction = Callable[[CustomerAccount, Settings], Outcome]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


@contextlib.contextmanager
def message_connection() -> Iterator[None]:
    """The database connection of one stage message, given back with `db.release()` as a
    request's is: on SQLite the worker thread keeps it for its next message, its unfinished
    reads ended (opening one, its PRAGMAs and the schema read, was a tenth of a worker thread's
    time in a profile of a drain); PostgreSQL's returns to the pool. Closed instead if the
    message raised (a dropped connection, a lock not granted: the retry starts on a new one). A
    kept one is closed when the thread stops (CloseDatabaseConnection)."""
    if database.is_closed():
        database.connect()
    try:
        yield
    except BaseException:
        database.close()
        raise
    db.release()


#: SQLite takes one writer at a time, and a transaction that finds the file locked sleeps in
#: SQLite's busy handler (1, 2, 5 ... up to 100 ms between tries) while another runs.
_sqlite_writer = threading.RLock()


@contextlib.contextmanager
def stage_transaction() -> Iterator[None]:
    """A stage's transaction. On SQLite the worker threads of a process queue for it on a lock,
    woken as soon as the one before them commits, instead of each polling SQLite's lock; the
    processes then queue for their turn among themselves (`writer_queue`).

    Taken by `with`, whose acquire and release are C calls that Dramatiq's time limit (an
    exception raised asynchronously in the thread) cannot fall between: an acquire with a
    timeout, then `try`, left a window where it could, and a lock left held would stop every
    stage of the process. The wait is bounded by the holder's: its BEGIN waits at most SQLite's
    busy timeout, and its transaction does database work only (a stage's effect, the email,
    runs after the commit). Re-entrant, so a nested stage transaction cannot wait for itself."""
    if not isinstance(database.obj, peewee.SqliteDatabase):
        with database.atomic():
            yield
        return
    with _sqlite_writer:
        # The outermost transaction queues with the other processes' (writer_queue); a nested
        # one is a savepoint of a transaction that holds the turn already.
        queued = not database.in_transaction() and writer_queue.join(database.obj.database)
        try:
            with database.atomic():
                yield
        finally:
            if queued:
                writer_queue.leave()


class CloseDatabaseConnection(Middleware):
    """A worker thread's kept SQLite connection (message_connection) ends with the thread."""

    def before_worker_thread_shutdown(self, broker, thread):
        database.close()


def run_stage(stage_name: str, account_id: int, fn: StageFunction, settings: Settings) -> None:
    stage = workflow.stage(stage_name)
    worker, started = worker_name(), utcnow()
    context = {"account_id": account_id, "stage": stage_name}
    endpoints: list[int] | None = []
    with message_connection():
        try:
            with stage_transaction():
                account = stage_runs.take(account_id, stage_name)
                if account is None:
                    log.info("stage not due, nothing to do", extra=context)
                    return
                skipped = stage.needs_access and not account.app_access
                outcome = Outcome.done() if skipped else fn(account, settings)
                if outcome.effect is not None:
                    stage_runs.start(account, stage_name, worker, started)
                elif outcome.waiting_for:
                    stage_runs.pause(account, stage_name, worker, started, outcome.waiting_for)
                elif outcome.rejected:
                    error, columns = stage_runs.rejection(outcome.rejected)
                    endpoints = stage_runs.conclude(
                        account,
                        stage_name,
                        worker,
                        started,
                        workflow.STAGE_REJECTED,
                        workflow.REJECTED,
                        error=error,
                        **columns,
                    )
                else:
                    state = workflow.SKIPPED if skipped else workflow.DONE
                    endpoints = stage_runs.conclude(
                        account, stage_name, worker, started, state, workflow.status_after(stage_name)
                    )
        except BaseException as error:  # TimeLimitExceeded too: the attempt is recorded, then retried
            stage_runs.record_rolled_back(account_id, stage_name, worker, started, error)
            raise
        if outcome.effect is not None:
            endpoints = _perform(outcome.effect, account, stage_name)
        webhooks.wake(endpoints or [])
    if outcome.waiting_for:
        log.info("stage waiting: %s", outcome.waiting_for, extra=context)
        return
    if outcome.rejected:
        if endpoints is not None:
            metrics.count_final(workflow.REJECTED)
        log.info("account rejected", extra=context)
        return
    following = workflow.next_stage(stage_name)
    if endpoints is not None and following:
        account_status.send_stage(following.name, account_id)  # best effort: the reconciler if Redis is away
    elif endpoints is not None:
        metrics.count_final(workflow.ACTIVE)


def _perform(effect: Effect, account: CustomerAccount, stage_name: str) -> list[int] | None:
    """The stage is committed as running: do its effect, then record it and settle the stage in
    one transaction (retried through a database outage for as long as the effect's claim is
    ours). Returns the webhook endpoints to wake, or None if the account did not move."""
    try:
        effect.perform()
    except BaseException as error:
        with database.atomic():
            effect.undo(error)
            stage_runs.record_error(account.id, stage_name, error)
        raise

    def record_and_settle():
        with stage_transaction():
            endpoints = stage_runs.close(
                account.id, stage_name, workflow.DONE, workflow.status_after(stage_name), recorded=effect.recording()
            )
            if endpoints is None:
                effect.record()  # the account did not move, so the move did not record it: recorded all the same
            return endpoints

    try:
        return db.record_done(record_and_settle, within_s=effect.record_within_s())
    except (peewee.OperationalError, peewee.InterfaceError):
        raise  # the database stayed away past the claim: as if the effect had not been recorded
    except Exception:
        db.record_done(effect.record, within_s=effect.record_within_s())  # whatever failed, the effect is recorded
        raise


def declare_stage(broker, settings: Settings, stage_name: str, fn: StageFunction) -> dramatiq.Actor:
    def stage_actor(account_id: int) -> None:
        run_stage(stage_name, account_id, fn, settings)

    stage_actor.__name__ = stage_name
    # `throws`: Dramatiq's Retries gives up at once on an error no retry can mend, and
    # RecordGiveUps records the account `failed` with it, as after the last retry.
    return dramatiq.actor(
        stage_actor, broker=broker, actor_name=stage_name, queue_name=stage_name, throws=(workflow.GiveUp,)
    )
