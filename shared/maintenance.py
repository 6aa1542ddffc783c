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
    finished_at). Their summaries count every organisation: for the workers' log and the CLI."""
    return list(MaintenanceRun.select().order_by(MaintenanceRun.day.desc()).limit(limit))


#: The audit action each effect of a run writes, and the summary key it is counted under.
SUMMARY_OF_ACTION = {"market.closed": "windows_closed", "trial.ended": "trials_ended"}


def recent_runs_of(organisation_id: int, limit: int = 7) -> list[dict]:
    """The latest runs as one organisation's /ops shows them: day, started_at, finished_at, and
    a summary counting only that organisation's closed windows and ended trials (read from the
    audit events the run wrote, between its start and its end). A run's stored summary counts
    every organisation: shown on /ops, it told one supplier how many trials its rivals ended.
    A run still going has no summary yet."""
    runs = recent_runs(limit)
    spans = [(run.started_at, run.finished_at) for run in runs if run.finished_at is not None]
    events = []
    if spans:
        events = list(
            AuditEvent.select(AuditEvent.action, AuditEvent.at).where(
                (AuditEvent.organisation == organisation_id)
                & (AuditEvent.actor == "system")
                & AuditEvent.action.in_(list(SUMMARY_OF_ACTION))
                & (AuditEvent.at >= min(start for start, _ in spans))
                & (AuditEvent.at <= max(end for _, end in spans))
            )
        )
    seen = []
    for run in runs:
        summary = None
        if run.finished_at is not None:
            summary = dict.fromkeys(SUMMARY_OF_ACTION.values(), 0)
            for event in events:
                if run.started_at <= event.at <= run.finished_at:
                    summary[SUMMARY_OF_ACTION[event.action]] += 1
        seen.append({"day": run.day, "started_at": run.started_at, "finished_at": run.finished_at, "summary": summary})
    return seen
