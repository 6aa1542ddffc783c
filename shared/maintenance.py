"""The daily maintenance, run by the workers' scheduler: it closes the market accesses whose
end date has passed and ends the demo trials that are over.

Idempotent twice over: the run of a day is one row with a unique day, written in the same
transaction as its effects (a crash rolls both back, and the next tick runs it again), and each
effect is a conditional update that a second pass finds nothing left to do for.
"""

from __future__ import annotations

import datetime as dt

import peewee

from shared import trials
from shared.db import database
from shared.models import AuditEvent, MaintenanceRun, MarketAccess, utcnow


def close_expired_windows(today: dt.date) -> int:
    """Mark every market access whose end date has passed as closed (once), with an audit event."""
    due = list(MarketAccess.select().where((MarketAccess.end_date < today) & MarketAccess.closed_at.is_null()))
    for access in due:
        closed = (
            MarketAccess.update(closed_at=utcnow())
            .where((MarketAccess.id == access.id) & MarketAccess.closed_at.is_null())
            .execute()
        )
        if closed:
            account = access.account
            AuditEvent.create(
                organisation=account.organisation_id,
                account=account.id,
                actor="system",
                action="market.closed",
                detail={"market": access.market, "end_date": access.end_date.isoformat()},
            )
    return len(due)


def run_daily(today: dt.date, trial_days: int) -> MaintenanceRun | None:
    """Run the day's maintenance unless it ran already today; returns the run, or None."""
    if MaintenanceRun.select().where(MaintenanceRun.day == today).exists():
        return None
    try:
        with database.atomic():
            run = MaintenanceRun.create(day=today)
            summary = {
                "windows_closed": close_expired_windows(today),
                "trials_ended": trials.end_due_trials(today, trial_days),
            }
            MaintenanceRun.update(finished_at=utcnow(), summary=summary).where(MaintenanceRun.id == run.id).execute()
    except peewee.IntegrityError:
        return None  # another process ran it at the same moment
    return MaintenanceRun.get_by_id(run.id)


def recent_runs(limit: int = 7) -> list[MaintenanceRun]:
    """The latest `limit` daily maintenance runs, newest day first (a run still going has no
    finished_at)."""
    return list(MaintenanceRun.select().order_by(MaintenanceRun.day.desc()).limit(limit))
