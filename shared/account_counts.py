"""The lists' totals, read from the counts that database triggers keep per (organisation, KAM,
status) in `account_count` (migration 0006): a handful of rows instead of counting the 100,000
accounts of a scope on every request. The triggers run in the transaction of every write to
customer_account (insert, status move, KAM change, delete), so a total read here is the count
of the committed rows, as COUNT(*) would give; docs/decisions.md says why this over the others.
"""

from __future__ import annotations

import peewee

from shared.models import AccountCount


def total(organisation_id: int, *, kam_id: int | None = None, status: str | None = None) -> int:
    """How many accounts the organisation has (of one KAM, in one status, when given)."""
    query = AccountCount.select(peewee.fn.COALESCE(peewee.fn.SUM(AccountCount.n), 0)).where(
        AccountCount.organisation_id == organisation_id
    )
    if kam_id is not None:
        query = query.where(AccountCount.kam_id == kam_id)
    if status is not None:
        query = query.where(AccountCount.status == status)
    return int(query.scalar())
