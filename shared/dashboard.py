"""What the dashboard's 'Monitoring of activities' shows: where a person's accounts stand, what
moved lately, and which demo trials and market accesses end soon."""

from __future__ import annotations

import dataclasses
import datetime as dt

from shared import observability, workflow
from shared.models import CustomerAccount, MarketAccess, User
from shared.visibility import visible_accounts

#: The dashboard's groups of statuses, in the order they are shown.
GROUPS = (
    ("created", "Created, not started yet", (workflow.PENDING,)),
    (
        "in_progress",
        "In progress",
        (workflow.VALIDATING, workflow.PROVISIONING, workflow.ACTIVATING, workflow.SENDING_CREDENTIALS),
    ),
    ("active", "Active", (workflow.ACTIVE,)),
    ("rejected", "Rejected", (workflow.REJECTED,)),
    ("failed", "Failed", (workflow.FAILED,)),
)
ENDING_SOON_DAYS = 30


def counts(user: User) -> list[tuple[str, str, int]]:
    """(group key, label, number of the person's real accounts in it), every group present, then
    the demo accounts, counted apart: a trial is not a customer yet."""
    accounts = visible_accounts(user)
    by_status = observability.accounts_by_status(accounts.where(CustomerAccount.is_demo == False))  # noqa: E712
    demos = accounts.where(CustomerAccount.is_demo == True).count()  # noqa: E712
    return [(key, label, sum(by_status[s] for s in statuses)) for key, label, statuses in GROUPS] + [
        ("demo", "Demo accounts", demos)
    ]


def recent(user: User, limit: int = 10) -> list[CustomerAccount]:
    """The person's accounts that changed most recently."""
    return list(
        visible_accounts(user).order_by(CustomerAccount.updated_at.desc(), CustomerAccount.id.desc()).limit(limit)
    )


@dataclasses.dataclass(frozen=True)
class Ending:
    """A demo trial or a market access that ends soon, for the dashboard."""

    account: CustomerAccount
    market: str
    end_date: dt.date


def ending_soon(
    user: User, today: dt.date | None = None, days: int = ENDING_SOON_DAYS
) -> tuple[list[Ending], list[Ending]]:
    """(demo trials, market accesses of real accounts) whose end date falls within `days`,
    soonest first; rejected accounts are left out since they never had access."""
    today = today or dt.date.today()
    accounts = visible_accounts(user).where(CustomerAccount.status != workflow.REJECTED)
    rows = (
        MarketAccess.select(MarketAccess, CustomerAccount)
        .join(CustomerAccount)
        .where(
            CustomerAccount.id.in_(accounts.select(CustomerAccount.id))
            & MarketAccess.end_date.between(today, today + dt.timedelta(days=days))
        )
        .order_by(MarketAccess.end_date, CustomerAccount.company)
    )
    demos: list[Ending] = []
    real: list[Ending] = []
    for row in rows:
        (demos if row.account.is_demo else real).append(Ending(row.account, row.market, row.end_date))
    return demos, real
