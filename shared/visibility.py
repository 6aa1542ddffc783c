"""Which customer accounts a person may see: the one scoping rule for pages, API and ops.

The rule itself is `shared.permissions.ACCOUNT_SCOPE`: a KAM sees the accounts they own; a
manager and an operator every account of their organisation; a customer none through these
doors. An id outside that set is answered as if it did not exist, so ids leak nothing.
"""

from __future__ import annotations

import functools
import operator

import peewee

from shared import account_counts, permissions, schemas
from shared.db import database
from shared.models import CustomerAccount, User


def visible_accounts(user: User) -> peewee.ModelSelect[CustomerAccount]:
    """The accounts `user` may see (ACCOUNT_SCOPE of their role), as a query to narrow further;
    an empty query for a role that sees none. Reads nothing until iterated."""
    query = CustomerAccount.select().where(CustomerAccount.organisation == user.organisation_id)
    scope = permissions.ACCOUNT_SCOPE.get(user.role, "none")
    if scope == "organisation":
        return query
    if scope == "own":
        return query.where(CustomerAccount.kam == user.id)
    return query.where(peewee.SQL("1 = 0"))


def count_visible(user: User, kam_id: int | None = None) -> int:
    """How many accounts `owned_by(visible_accounts(user), kam_id)` holds, from the kept counts
    (shared.account_counts) rather than by counting them: the same scoping rule as above."""
    scope = permissions.ACCOUNT_SCOPE.get(user.role, "none")
    if scope == "own":
        if kam_id not in (None, user.id):
            return 0
        kam_id = user.id
    elif scope != "organisation":
        return 0
    return account_counts.total(user.organisation_id, kam_id=kam_id)


def visible_account(user: User, account_id: int) -> CustomerAccount | None:
    """The account with this id if `user` may see it, else None (as if it did not exist).

    Read by its id alone, then held to the same rule as `visible_accounts`: asked with the
    scope's conditions too, PostgreSQL without statistics on the accounts yet (a new database,
    a burst of accounts before autovacuum's next pass) takes an index of the organisation's
    accounts for them and reads every one of them to find this one."""
    account = CustomerAccount.get_or_none(CustomerAccount.id == account_id)
    return account if account is not None and sees(user, account) else None


def sees(user: User, account: CustomerAccount) -> bool:
    """Whether `account` is one of `visible_accounts(user)`: the same rule, for an account in hand."""
    scope = permissions.ACCOUNT_SCOPE.get(user.role, "none")
    if account.organisation_id != user.organisation_id:
        return False
    return scope == "organisation" or (scope == "own" and account.kam_id == user.id)


def account_owners(user: User) -> list[User]:
    """The KAMs (and managers) whose accounts `user` may filter by: a manager's organisation's
    staff; for a KAM, only themselves."""
    if permissions.ACCOUNT_SCOPE.get(user.role) != "organisation":
        return [user]
    return list(
        User.select()
        .where((User.organisation == user.organisation_id) & User.role.in_(permissions.ACCOUNT_OWNERS))
        .order_by(User.email)
    )


def owned_by(query: peewee.ModelSelect[CustomerAccount], kam_id: int | None) -> peewee.ModelSelect[CustomerAccount]:
    """Narrow `query` to the accounts of one KAM; None narrows nothing."""
    return query if kam_id is None else query.where(CustomerAccount.kam == kam_id)


#: The columns the search looks in; one trigram index covers them (shared/migrations/0005, 0009).
SEARCHED = (
    CustomerAccount.company,
    CustomerAccount.customer_reference,
    CustomerAccount.last_name,
    CustomerAccount.first_name,
    CustomerAccount.email,
)
#: The trigram index over them, beside the accounts (writing an account's status does not write
#: it): on PostgreSQL a table of the searched columns by account id with a GIN index (0009), on
#: SQLite an FTS5 table (0005; FTS5 keeps its shadow tables beside it, named after it). Both are
#: kept in step by triggers. The models do not declare it: each database has its own kind.
SEARCH_INDEX = "customer_account_search"
#: A trigram index finds texts of at least three characters; a shorter one is looked for by
#: reading every account in scope, as before the index (the same matches, only slower).
TRIGRAM = 3


def search(query: peewee.ModelSelect[CustomerAccount], text: str) -> peewee.ModelSelect[CustomerAccount]:
    """Narrow `query` to accounts whose company, reference, contact name or email contains
    `text` (case-insensitive); blank text narrows nothing.

    The matches are always decided by the substring test below (ILIKE on PostgreSQL, LIKE,
    case-blind for ASCII, on SQLite); the trigram index only finds the candidates: the same
    test on its copy of the columns (PostgreSQL, through its GIN index), or the text as an FTS5
    phrase (SQLite), which folds case more broadly than LIKE, so it may offer more candidates
    than match, never fewer."""
    text = (text or "").strip()
    if not text:
        return query
    if schemas.has_refused_characters(text):  # no account holds one: nothing matches (and a NUL is no SQL text)
        return query.where(peewee.SQL("1 = 0"))
    matches = functools.reduce(operator.or_, (field.contains(text) for field in SEARCHED))
    query = query.where(matches)
    if len(text) < TRIGRAM:
        return query
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        index = peewee.Table(SEARCH_INDEX)
        copies = (index.c[field.column_name] for field in SEARCHED)  # the same columns, in the index's table
        found = functools.reduce(operator.or_, (column.contains(text) for column in copies))
        return query.where(CustomerAccount.id.in_(index.select(index.c.account_id).where(found)))
    phrase = '"' + text.replace('"', '""') + '"'  # FTS5: one phrase, a substring for trigrams
    candidates = peewee.SQL(f"(SELECT rowid FROM {SEARCH_INDEX} WHERE {SEARCH_INDEX} MATCH ?)", [phrase])
    # NOT INDEXED: read the candidates by id, not the scope's 100,000 index entries checking
    # each against them (SQLite's planner cannot tell that the candidates are few).
    return query.from_(peewee.NodeList((CustomerAccount, peewee.SQL("NOT INDEXED")))).where(
        CustomerAccount.id.in_(candidates)
    )


def page_of(
    query: peewee.ModelSelect[CustomerAccount],
    page: int,
    per_page: int,
    *,
    searching: bool = False,
    total: int | None = None,
) -> tuple[list[CustomerAccount], int]:
    """One page of `query`, newest first, and the total count (`total` when the caller knows it,
    e.g. count_visible's).

    A search reads its matches (through the trigram index), so its total comes from that same
    read, a window count beside the page's rows, instead of a second one."""
    ordered = query.order_by(CustomerAccount.created_at.desc(), CustomerAccount.id.desc())
    if searching:
        counted = ordered.select_extend(peewee.fn.COUNT(peewee.SQL("*")).over().alias("matching"))
        items = list(counted.paginate(page, per_page))
        # `matching` is the window count selected above, which peewee sets on each row it reads.
        return items, (items[0].matching if items else query.count())  # type: ignore[attr-defined]
    items = list(ordered.paginate(page, per_page))
    return items, (query.count() if total is None else total)
