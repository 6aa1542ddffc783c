"""Bounding how long an accepted account can stall.

An account whose status is not final and has not moved for `stall_after_s` is re-sent its due
stage: the request the gateway accepted while Redis was down, a message lost with a killed
worker before Redis maintenance hands it back, a crash between a commit and a send. Stages are
idempotent, so a re-send that races a redelivery is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from shared import workflow
from shared.db import database
from shared.models import CustomerAccount, utcnow

log = logging.getLogger(__name__)

BATCH = 500


def stalled_accounts(stall_after_s: float, limit: int = BATCH) -> list[tuple[int, str]]:
    """(account id, due stage) for accounts that have not moved for `stall_after_s`."""
    cutoff = utcnow() - dt.timedelta(seconds=stall_after_s)
    waiting = [s for s in workflow.STATUSES if s not in workflow.FINAL_STATUSES]
    rows = (
        CustomerAccount.select(CustomerAccount.id, CustomerAccount.status)
        .where(CustomerAccount.status.in_(waiting) & (CustomerAccount.updated_at < cutoff))
        .order_by(CustomerAccount.updated_at)
        .limit(limit)
    )
    found = []
    for row in rows:
        stage = workflow.stage_due(row.status)
        if stage is not None:  # every status outside FINAL_STATUSES has a stage due
            found.append((row.id, stage.name))
    return found


def _touch_unless_held(account_id: int) -> bool:
    """Touch the account (the next pass leaves it alone for another stall period), unless a
    transaction holds it: then it is not stalled but being worked on, or held by a process that
    froze mid-stage (SIGSTOP, a VM paused, a host cut off without a word), whose lock PostgreSQL
    keeps until TCP keepalive notices, hours later. Waiting for that lock stopped the reconciler
    for every other account, in every worker process in turn. (SQLite has no row locks.)"""
    free = CustomerAccount.select(CustomerAccount.id).where(CustomerAccount.id == account_id)
    if database.for_update:
        free = free.for_update("FOR UPDATE SKIP LOCKED")  # type: ignore[arg-type]  # peewee takes the clause; its stubs say bool
    return CustomerAccount.update(updated_at=utcnow()).where(CustomerAccount.id.in_(free)).execute() == 1


def reconcile(stall_after_s: float, send: Callable[[str, int], None]) -> int:
    """Re-send the due stage of every stalled account; returns how many were re-sent.
    The account is touched first, so the next pass leaves it alone for another stall period;
    one that another transaction holds is left for a later pass."""
    resent = 0
    with database.connection_context():
        for account_id, stage_name in stalled_accounts(stall_after_s):
            if not _touch_unless_held(account_id):
                log.warning(
                    "reconciler skipped a stalled account another transaction holds",
                    extra={"account_id": account_id, "stage": stage_name},
                )
                continue
            send(stage_name, account_id)
            log.info("reconciler re-sent %s", stage_name, extra={"account_id": account_id, "stage": stage_name})
            resent += 1
    return resent
