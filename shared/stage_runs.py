"""Recording stage runs and moving the account's status, so a person can see where an account
is and why.

Every function here is safe to call twice for the same message: a stage that is not due any
more is not begun again, and only the run that moves the status on gets to send the next stage
(shared.account_status's conditional UPDATE decides, so two racing workers cannot both hand
on).
"""

from __future__ import annotations

import datetime as dt

import peewee

from shared import account_status, webhooks, workflow
from shared.db import database
from shared.models import CustomerAccount, StageAttempt, StageRun, utcnow

MAX_ERROR_LENGTH = 2000


def begin(account_id: int, stage_name: str, worker: str) -> CustomerAccount | None:
    """Mark `stage_name` running for the account and return it, or None if the stage is not due
    (a duplicate delivery, or the account moved on, was rejected or failed meanwhile)."""
    stage = workflow.stage(stage_name)
    with database.atomic():
        status = CustomerAccount.select(CustomerAccount.status).where(CustomerAccount.id == account_id).scalar()
        if status is None:
            return None
        due = workflow.stage_due(status)
        if due is None or due.name != stage_name:
            return None
        # Only the status (and updated_at) is written: a PATCH committed since the read keeps
        # its columns. If the status changed since, another run or an operator got there first.
        if not account_status.move(account_id, status, stage.status):
            return None
        now = utcnow()
        run_filter = (StageRun.account == account_id) & (StageRun.stage == stage_name)
        StageRun.update(
            state=workflow.RUNNING,
            attempts=StageRun.attempts + 1,
            started_at=now,
            finished_at=None,
            error=None,
            worker=worker,
        ).where(run_filter).execute()
        # The attempt numbered from the run's counter in the same statement (INSERT ... SELECT).
        StageAttempt.insert_from(
            StageRun.select(
                StageRun.account,
                StageRun.stage,
                StageRun.attempts,
                peewee.Value(worker),
                peewee.Value(now, converter=StageAttempt.started_at.db_value),
                peewee.Value(workflow.RUNNING),
            ).where(run_filter),
            fields=[
                StageAttempt.account,
                StageAttempt.stage,
                StageAttempt.attempt,
                StageAttempt.worker,
                StageAttempt.started_at,
                StageAttempt.outcome,
            ],
        ).execute()
        return CustomerAccount.get_by_id(account_id)


def _close_attempt(account_id: int, stage_name: str, outcome: str, error: str | None, now: dt.datetime) -> None:
    """Record how the stage's latest attempt ended, for the account's timeline. (A give-up
    re-labels the attempt that raised: its outcome is `failed`, not `retrying`.)"""
    this_stage = (StageAttempt.account == account_id) & (StageAttempt.stage == stage_name)
    latest = StageAttempt.select(peewee.fn.MAX(StageAttempt.attempt)).where(this_stage)  # a subquery: one statement
    StageAttempt.update(
        outcome=outcome, error=error, finished_at=peewee.fn.COALESCE(StageAttempt.finished_at, now)
    ).where(this_stage & (StageAttempt.attempt == latest)).execute()


def _settle(
    account_id: int,
    stage_name: str,
    run_state: str,
    new_status: str,
    *,
    error: str | None = None,
    **account_fields: object,
) -> bool:
    """Close the stage run and move the account from the stage's status to `new_status`.
    Returns False if another run of the same stage got there first."""
    stage = workflow.stage(stage_name)
    now = utcnow()
    endpoints: list[int] = []
    with database.atomic():
        moved = account_status.move(account_id, stage.status, new_status, **account_fields)
        if moved:
            StageRun.update(state=run_state, finished_at=now, error=error).where(
                (StageRun.account == account_id) & (StageRun.stage == stage_name)
            ).execute()
            _close_attempt(account_id, stage_name, run_state, error, now)
            endpoints = webhooks.record_event(account_id, new_status)
    webhooks.wake(endpoints)
    return bool(moved)


def finish(account_id: int, stage_name: str) -> bool:
    """The stage is done: close its run and attempt and move the account to the next stage's
    status (or active), with its webhook event, in one transaction; wakes the webhook delivery
    after commit. Returns False, changing nothing, if the account had left the stage's status
    (another run finished it)."""
    return _settle(account_id, stage_name, workflow.DONE, workflow.status_after(stage_name))


def skip(account_id: int, stage_name: str) -> bool:
    """As `finish`, recorded as skipped: the stage had nothing to do (a customer without access)."""
    return _settle(account_id, stage_name, workflow.SKIPPED, workflow.status_after(stage_name))


def reject(account_id: int, stage_name: str, reasons: dict[str, list[str]]) -> bool:
    """The stage refused the account: it becomes `rejected` (final) with `reasons` ({field:
    [message]}) kept for the KAM, its email and reference claims are freed, the run and attempt are
    closed and the webhook event recorded, in one transaction. Returns False, changing nothing, if
    the account had left the stage's status."""
    summary = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in reasons.items())
    return _settle(
        account_id,
        stage_name,
        workflow.STAGE_REJECTED,
        workflow.REJECTED,
        error=summary[:MAX_ERROR_LENGTH],
        rejection_reasons=reasons,
        email_claim=None,
        reference_claim=None,
    )


def fail(account_id: int, stage_name: str, error: BaseException) -> bool:
    """The stage gave up after its retries: the account is `failed` at this stage."""
    return _settle(account_id, stage_name, workflow.STAGE_FAILED, workflow.FAILED, error=describe_error(error))


def wait(account_id: int, stage_name: str, reason: str) -> None:
    """The stage cannot proceed yet; it stays due, and the reconciler will send it again."""
    with database.atomic():
        StageRun.update(state=workflow.WAITING, error=reason[:MAX_ERROR_LENGTH]).where(
            (StageRun.account == account_id) & (StageRun.stage == stage_name)
        ).execute()
        _close_attempt(account_id, stage_name, workflow.WAITING, reason[:MAX_ERROR_LENGTH], utcnow())


def record_error(account_id: int, stage_name: str, error: BaseException) -> None:
    """An attempt raised; Dramatiq will retry it. Say so where people look."""
    with database.atomic():
        StageRun.update(state=workflow.RETRYING, error=describe_error(error)).where(
            (StageRun.account == account_id) & (StageRun.stage == stage_name)
        ).execute()
        now = utcnow()
        _close_attempt(account_id, stage_name, workflow.RETRYING, describe_error(error), now)
        CustomerAccount.update(updated_at=now).where(CustomerAccount.id == account_id).execute()


def describe_error(error: BaseException) -> str:
    """The error as one line for the stage run and the timeline: its type and message, cut to
    MAX_ERROR_LENGTH characters."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
