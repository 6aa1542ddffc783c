"""Demo accounts and their trial (the article: "If you want to give a trial to the customer, set
the end date to the end of the trial").

A demo account's trial ends on the latest end date of its markets when the KAM set them (access
given); otherwise (no access) `TRIAL_DAYS` after its creation. When the daily maintenance finds
a trial over, it switches the customer's login off and records it; converting the demo into a
real account (is_demo No) keeps everything, clears the badge and gives a login switched off by
the trial back (with new credentials: `shared.parameters` has them sent).
"""

from __future__ import annotations

import datetime as dt

from shared import access, workflow
from shared.models import AuditEvent, CustomerAccount, MarketAccess, User, utcnow


def ends_on(account: CustomerAccount, trial_days: int) -> dt.date | None:
    """The last day of the trial, or None for a real account."""
    if not account.is_demo:
        return None
    if account.app_access:
        latest = (
            MarketAccess.select(MarketAccess.end_date)
            .where(MarketAccess.account == account.id)
            .order_by(MarketAccess.end_date.desc())
            .first()
        )
        if latest is not None:
            return latest.end_date
    return account.created_at.date() + dt.timedelta(days=trial_days)


def end_due_trials(today: dt.date, trial_days: int) -> int:
    """End every demo trial whose last day is before `today` (once: ended ones are skipped)."""
    ended = 0
    for account in CustomerAccount.select().where(
        CustomerAccount.is_demo & CustomerAccount.trial_ended_at.is_null() & (CustomerAccount.status == workflow.ACTIVE)
    ):
        last_day = ends_on(account, trial_days)
        if last_day is None or last_day >= today:
            continue
        moved = (
            CustomerAccount.update(trial_ended_at=utcnow())
            .where((CustomerAccount.id == account.id) & CustomerAccount.trial_ended_at.is_null())
            .execute()
        )
        if not moved:
            continue
        if account.user_id:
            access.switch_off_login(account.user_id)
        AuditEvent.create(
            organisation=account.organisation_id,
            account=account.id,
            actor="system",
            action="trial.ended",
            detail={"last_day": last_day.isoformat()},
        )
        ended += 1
    return ended


def convert(account: CustomerAccount) -> bool:
    """The demo became a real account (is_demo switched off): the trial no longer applies, in
    the caller's transaction. Returns whether a login the trial had switched off works again
    (the account has access): its unused links were burned with it, so new credentials are due."""
    if account.trial_ended_at is None:
        return False
    CustomerAccount.update(trial_ended_at=None).where(CustomerAccount.id == account.id).execute()
    account.trial_ended_at = None
    if not (account.user_id and account.app_access):
        return False
    User.update(active=True).where(User.id == account.user_id).execute()
    return True
