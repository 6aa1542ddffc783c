"""Recording stage runs and moving the account's status, so a person can see where an account
is and why.

A stage runs in one transaction (workers.stage_actor): `take` locks the account if the stage is
due, the stage does its work, and `conclude` moves the status on and records the run and its
attempt, all committed together or not at all. A stage whose work goes on outside the database
(an email) commits `start` (the attempt shows as running) before that work and `close` after
it. An attempt that raised is recorded by `record_error` in a transaction of its own.

Every function here is safe to call twice for the same message: a stage that is not due any
more is not begun again, and only the run that moves the status on gets to send the next stage
(the lock taken by `take` and shared.account_status's conditional UPDATE decide, so two racing
workers cannot both hand on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import peewee

from shared import account_status, db, webhooks, workflow
from shared.db import database
from shared.models import CustomerAccount, StageAttempt, StageRun, utcnow

MAX_ERROR_LENGTH = 2000


def _take_query() -> peewee.ModelSelect[CustomerAccount]:
    return db.locking(CustomerAccount.select().where(CustomerAccount.id == db.param("id")).limit(1))


# The statements every stage message makes, their SQL generated once (shared.db.Prepared).
_TAKE = db.Prepared(_take_query)


def _account(moved: peewee.CTE | None) -> peewee.Node:
    """The account a statement records for: the one given, or, in a move's statement
    (account_status.Also, PostgreSQL), the one the move moved (none if it did not)."""
    return db.param("account") if moved is None else peewee.Select([moved], [moved.c.id])


def _this_run(moved: peewee.CTE | None = None) -> peewee.Expression:
    return (StageRun.account == _account(moved)) & (StageRun.stage == db.param("stage"))


def _count_run_query(moved: peewee.CTE | None = None) -> peewee.ModelUpdate:
    return StageRun.update(
        state=db.param("state"),
        attempts=StageRun.attempts + 1,
        started_at=db.param("started", StageRun.started_at),
        finished_at=db.param("finished", StageRun.finished_at),
        error=db.param("error"),
        worker=db.param("worker"),
    ).where(_this_run(moved))


_ATTEMPT_FIELDS = [
    StageAttempt.account,
    StageAttempt.stage,
    StageAttempt.attempt,
    StageAttempt.worker,
    StageAttempt.started_at,
    StageAttempt.finished_at,
    StageAttempt.outcome,
    StageAttempt.error,
]


def _attempt_values() -> list[peewee.Node]:
    """The new attempt's columns that the run's counter does not give."""
    return [
        db.param("worker"),
        db.param("started", StageAttempt.started_at),
        db.param("finished", StageAttempt.finished_at),
        db.param("state"),
        db.param("error"),
    ]


def _count_attempt_ctes(moved: peewee.CTE) -> list[peewee.CTE]:
    """PostgreSQL, in the move's statement: one more attempt counted on the run (an UPDATE whose
    RETURNING numbers the attempt) and the attempt added to the timeline."""
    counted = _count_run_query(moved).returning(StageRun.account, StageRun.stage, StageRun.attempts)
    run = peewee.CTE("run", counted, columns=["account_id", "stage", "attempts"])
    added = StageAttempt.insert_from(
        peewee.Select([run], [run.c.account_id, run.c.stage, run.c.attempts, *_attempt_values()]),
        fields=_ATTEMPT_FIELDS,
    ).returning()
    return [run, peewee.CTE("added", added)]


_COUNT_RUN = db.prepared_write(_count_run_query)
_ADD_ATTEMPT = db.prepared_write(
    lambda: StageAttempt.insert_from(
        StageRun.select(StageRun.account, StageRun.stage, StageRun.attempts, *_attempt_values()).where(_this_run()),
        fields=_ATTEMPT_FIELDS,
    )
)


def _count_attempt_separately(**values: object) -> None:
    """SQLite: the same, as two statements (INSERT ... SELECT numbers the attempt from the run)."""
    _COUNT_RUN(**values)
    _ADD_ATTEMPT(**values)


#: One more attempt on the stage's run, and the attempt in the timeline, with the account's move.
_COUNT_ATTEMPT = account_status.Also(_count_attempt_ctes, _count_attempt_separately)


def _end_run_query(moved: peewee.CTE | None = None) -> peewee.ModelUpdate:
    return StageRun.update(
        state=db.param("state"), finished_at=db.param("ended_at", StageRun.finished_at), error=db.param("error")
    ).where(_this_run(moved))


def _end_latest_attempt_query(moved: peewee.CTE | None = None) -> peewee.ModelUpdate:
    this_stage = (StageAttempt.account == _account(moved)) & (StageAttempt.stage == db.param("stage"))
    latest = StageAttempt.select(peewee.fn.MAX(StageAttempt.attempt)).where(this_stage)  # a subquery: one statement
    return StageAttempt.update(
        outcome=db.param("outcome"),
        error=db.param("error"),
        finished_at=peewee.fn.COALESCE(StageAttempt.finished_at, db.param("ended_at", StageAttempt.finished_at)),
    ).where(this_stage & (StageAttempt.attempt == latest))


_END_RUN = db.prepared_write(_end_run_query)
_END_LATEST_ATTEMPT = db.prepared_write(_end_latest_attempt_query)


def _end_ctes(moved: peewee.CTE) -> list[peewee.CTE]:
    """PostgreSQL, in the move's statement: the run and its latest attempt ended."""
    return [
        peewee.CTE("run", _end_run_query(moved).returning()),
        peewee.CTE("attempt", _end_latest_attempt_query(moved).returning()),
    ]


def _end_separately(**values: object) -> None:
    _END_RUN(**values)
    _END_LATEST_ATTEMPT(**values)


#: The stage's run and its running attempt ended, with the account's move.
_END = account_status.Also(_end_ctes, _end_separately)


def take(account_id: int, stage_name: str) -> CustomerAccount | None:
    """Inside the stage's transaction: the account, locked until commit, if `stage_name` is due;
    None if it is not (a duplicate delivery, or the account moved on, was rejected or failed
    meanwhile). One read, SELECT ... FOR UPDATE on PostgreSQL (SQLite's transaction holds the
    writer lock already): a change committed by someone else waits for the stage's commit, and
    the stage's conditional moves cannot lose to it."""
    account = _TAKE.first(id=account_id)
    if account is None:
        return None
    due = workflow.stage_due(account.status)
    return account if due is not None and due.name == stage_name else None


def _move_and_count(
    account: CustomerAccount,
    stage_name: str,
    new_status: str,
    worker: str,
    started: dt.datetime,
    state: str,
    *,
    error: str | None = None,
    finished: dt.datetime | None = None,
    **columns: object,
) -> tuple | None:
    """Move the taken account to `new_status` (with `columns`), through the stage's own status
    when it was not there yet (`pending` through `validating`), and, if it moved, count one more
    attempt on the stage's run and add it to the timeline, ended in `state` if `finished`: one
    statement on PostgreSQL. Returns None if it did not move (the taken account, locked, always
    does), else what `webhooks.reading(new_status)` reads with the move."""
    values = {
        "account": account.id,
        "stage": stage_name,
        "state": state,
        "error": error,
        "started": started,
        "finished": finished,
        "worker": worker,
    }
    stage = workflow.stage(stage_name)
    return account_status.move_reading(
        account.id,
        account.status,
        new_status,
        via=stage.status,
        also=_COUNT_ATTEMPT,
        also_values=values,
        reading=webhooks.reading(new_status),
        **columns,
    )


def start(account: CustomerAccount, stage_name: str, worker: str, started: dt.datetime) -> None:
    """In the transaction that took the account: the stage is running (its status, the run and
    a new attempt), for a stage that commits before doing its work outside the database."""
    _move_and_count(account, stage_name, workflow.stage(stage_name).status, worker, started, workflow.RUNNING)


def conclude(
    account: CustomerAccount,
    stage_name: str,
    worker: str,
    started: dt.datetime,
    run_state: str,
    new_status: str,
    *,
    error: str | None = None,
    **account_fields: object,
) -> list[int] | None:
    """In the transaction that took the account and did the stage's work: the whole attempt at
    once — the account moved to `new_status` (with `account_fields`), the run and its attempt
    recorded as ended in `run_state`, the webhook event written. Returns the webhook endpoints
    to wake after commit, or None if the account did not move."""
    read = _move_and_count(
        account, stage_name, new_status, worker, started, run_state, error=error, finished=utcnow(), **account_fields
    )
    if read is None:
        return None
    # The taken account is current (it is locked), unless this move wrote other columns.
    return webhooks.record_event(
        account.id, new_status, read[0] if read else None, account=None if account_fields else account
    )


def pause(account: CustomerAccount, stage_name: str, worker: str, started: dt.datetime, reason: str) -> None:
    """In the transaction that took the account: the stage cannot proceed yet; it stays due,
    and the reconciler will send it again."""
    status = workflow.stage(stage_name).status
    error = reason[:MAX_ERROR_LENGTH]
    _move_and_count(account, stage_name, status, worker, started, workflow.WAITING, error=error, finished=utcnow())


def _close_attempt(account_id: int, stage_name: str, outcome: str, error: str | None, now: dt.datetime) -> None:
    """Record how the stage's latest attempt ended, for the account's timeline. (A give-up
    re-labels the attempt that raised: its outcome is `failed`, not `retrying`.)"""
    _END_LATEST_ATTEMPT(account=account_id, stage=stage_name, outcome=outcome, error=error, ended_at=now)


def close(
    account_id: int,
    stage_name: str,
    run_state: str,
    new_status: str,
    *,
    error: str | None = None,
    recorded: tuple[account_status.Also, Mapping[str, object]] | None = None,
    **account_fields: object,
) -> list[int] | None:
    """In the caller's transaction: close the stage's running attempt and its run, and move the
    account from the stage's status to `new_status`. Returns the webhook endpoints to wake after
    commit, or None if another run of the same stage got there first. `recorded`: more writes
    made with the move, and their values (an effect's record, see workers.stage_actor)."""
    stage = workflow.stage(stage_name)
    ended = {
        "account": account_id,
        "stage": stage_name,
        "state": run_state,
        "outcome": run_state,
        "error": error,
        "ended_at": utcnow(),
    }
    also: account_status.Also = _END
    if recorded is not None:
        also, ended = account_status.both(_END, recorded[0]), {**ended, **recorded[1]}
    read = account_status.move_reading(
        account_id,
        stage.status,
        new_status,
        via=None,
        also=also,
        also_values=ended,
        reading=webhooks.reading(new_status),
        **account_fields,
    )
    if read is None:
        return None
    return webhooks.record_event(account_id, new_status, read[0] if read else None)


def _settle(
    account_id: int,
    stage_name: str,
    run_state: str,
    new_status: str,
    *,
    error: str | None = None,
    **account_fields: object,
) -> bool:
    """`close` in a transaction of its own, then wake the webhook endpoints."""
    with database.atomic():
        endpoints = close(account_id, stage_name, run_state, new_status, error=error, recorded=None, **account_fields)
    webhooks.wake(endpoints or [])
    return endpoints is not None


def rejection(reasons: dict[str, list[str]]) -> tuple[str, dict[str, object]]:
    """What a rejection writes: the run's error (a summary of `reasons`), and the account's
    columns: the reasons, kept for the KAM, and its email and reference claims, freed."""
    summary = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in reasons.items())
    return summary[:MAX_ERROR_LENGTH], {"rejection_reasons": reasons, "email_claim": None, "reference_claim": None}


def fail(account_id: int, stage_name: str, error: BaseException) -> bool:
    """The stage gave up after its retries: the account is `failed` at this stage."""
    return _settle(account_id, stage_name, workflow.STAGE_FAILED, workflow.FAILED, error=describe_error(error))


def record_error(account_id: int, stage_name: str, error: BaseException) -> None:
    """An attempt that was `start`ed raised; Dramatiq will retry it. Say so where people look.
    Call inside a transaction of the caller's (it may record more in it) or outside one."""
    with database.atomic():
        StageRun.update(state=workflow.RETRYING, error=describe_error(error)).where(
            (StageRun.account == account_id) & (StageRun.stage == stage_name)
        ).execute()
        now = utcnow()
        _close_attempt(account_id, stage_name, workflow.RETRYING, describe_error(error), now)
        CustomerAccount.update(updated_at=now).where(CustomerAccount.id == account_id).execute()


def record_rolled_back(
    account_id: int, stage_name: str, worker: str, started: dt.datetime, error: BaseException
) -> None:
    """An attempt whose transaction raised, and was rolled back with everything it wrote,
    records itself here, in a transaction of its own: the stage is begun (its status, an
    attempt counted) and the attempt ended as retrying, with its error. Nothing if the stage is
    not due any more."""
    with database.atomic():
        account = take(account_id, stage_name)
        if account is None:
            return
        status, described = workflow.stage(stage_name).status, describe_error(error)
        _move_and_count(
            account, stage_name, status, worker, started, workflow.RETRYING, error=described, finished=utcnow()
        )


def describe_error(error: BaseException) -> str:
    """The error as one line for the stage run and the timeline: its type and message, cut to
    MAX_ERROR_LENGTH characters."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
