"""Finding one account by its id — an API call on it, a page of it, a stage moving it — reads
that account only, however many accounts the organisation holds and whether or not the
database has statistics on them yet; and the account found is exactly one the caller may see."""

from __future__ import annotations

import peewee
import pytest
from support import PASSWORD, burst_of_accounts

from shared import access, account_status, accounts, db, organisations, visibility, workflow
from shared.models import CustomerAccount, User


def test_one_account_by_id_is_one_the_caller_may_see_exactly_as_the_lists_say(org):
    """The by-id lookups hold each account to the same rule as the lists: a KAM their own, a
    manager or operator their organisation's, a customer none; another organisation's id is
    unknown."""
    organisation, kam, manager = org["organisation"], org["kam"], org["manager"]
    with db.database.connection_context():
        other = organisations.create_organisation("volt-supply", "Volt Supply", ["fr-power"])
        other_kam = organisations.create_staff_user(other, "kam@volt-supply.example", "kam", PASSWORD)
        operator = organisations.create_staff_user(organisation, "ops@acme-energy.example", "operator", PASSWORD)
        customer = User.create(organisation=organisation, email="me@customer.example", role="customer")
        burst_of_accounts(organisation, kam, 3, prefix="kams")
        burst_of_accounts(organisation, manager, 2, prefix="managers")
        burst_of_accounts(other, other_kam, 2, prefix="others")
        ids = [a.id for a in CustomerAccount.select()] + [10**9]
        for user in (kam, manager, operator, customer, other_kam):
            listed = {a.id for a in visibility.visible_accounts(user)}
            found = {i for i in ids if visibility.visible_account(user, i) is not None}
            assert found == listed, user.role
        assert len({i for i in ids if visibility.visible_account(kam, i)}) == 3
        assert len({i for i in ids if visibility.visible_account(manager, i)}) == 5
        for organisation_ in (organisation, other):
            found = {i for i in ids if accounts.get_account(organisation_, i) is not None}
            assert found == {
                a.id for a in CustomerAccount.select().where(CustomerAccount.organisation == organisation_)
            }


def test_finding_or_moving_one_account_reads_it_alone_among_a_burst_of_accounts(org):
    """2,000 accounts written at once, before the planner has statistics on them: looking one up
    (the API, the pages for a KAM and a manager, /ops), moving it (a stage) and linking it to
    its customer's new login each read one row of the accounts' table. Asked with its scope,
    its status or its missing login in the same condition, PostgreSQL took an index of the
    organisation's accounts, of the statuses or of the logins for it and read up to all 2,000."""
    if not isinstance(db.database.obj, peewee.PostgresqlDatabase):
        pytest.skip("SQLite always finds a row by its id (the rowid) whatever else the query says")
    organisation, kam, manager = org["organisation"], org["kam"], org["manager"]
    with db.database.connection_context():
        burst_of_accounts(organisation, kam, 2000)
        last = CustomerAccount.select(peewee.fn.MAX(CustomerAccount.id)).scalar()
        lookups = {
            "API": lambda account: accounts.get_account(organisation, account.id),
            "KAM's page": lambda account: visibility.visible_account(kam, account.id),
            "manager's page": lambda account: visibility.visible_account(manager, account.id),
            "stage's move": lambda account: account_status.move(account.id, workflow.PENDING, workflow.VALIDATING),
            "customer's login linked": lambda account: access.provision_login(account) == {},
        }
        # Twelve accounts each: a statement prepared on the server is planned for its values
        # five times, then once for any values.
        for name, lookup in lookups.items():
            for account in CustomerAccount.select().where(CustomerAccount.id > last - 1000).limit(12):
                with db.database.atomic() as transaction:
                    before = _account_rows_fetched()
                    assert lookup(account), name
                    assert _account_rows_fetched() - before == 1, name
                    transaction.rollback()


def _account_rows_fetched() -> int:
    """Rows of customer_account this connection has read and PostgreSQL not yet added to its
    statistics (its own counts; the difference across a call is what the call read)."""
    row = db.database.execute_sql(
        "SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
        "WHERE relname = 'customer_account'"
    ).fetchone()
    return row[0]
