"""The counts behind the lists' totals (migration 0006) stay exact while many writers create and
move one KAM's accounts at once: no deadlock between opposite moves, no lost update."""

from __future__ import annotations

import threading

from shared import account_counts, account_status, workflow
from shared.db import database
from shared.models import AccountCount, CustomerAccount

THREADS, FLIPS = 4, 25


def _new_account(org, n: int) -> CustomerAccount:
    return CustomerAccount.create(
        organisation=org["organisation"],
        kam=org["kam"],
        company=f"Concurrent {n}",
        last_name="Doe",
        first_name="Jo",
        phone="+33123456789",
        email=f"concurrent{n}@counts.example",
        is_demo=False,
        app_access=False,
        status=workflow.PENDING,
    )


def test_totals_stay_exact_while_writers_create_and_move_accounts_at_once(org):
    with database.connection_context():
        accounts = [_new_account(org, n) for n in range(AccountCount.SHARDS * THREADS)]
    # One shard's accounts: every move below takes the same few count rows, half of the accounts
    # going validating -> failed while the other half go failed -> validating (a retry).
    same_shard = [a.id for a in accounts if a.id % AccountCount.SHARDS == 0][:THREADS]
    with database.connection_context():
        for index, account_id in enumerate(same_shard):
            assert account_status.move(account_id, workflow.PENDING, workflow.VALIDATING)
            if index % 2:
                assert account_status.move(account_id, workflow.VALIDATING, workflow.FAILED)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(thread: int) -> None:
        try:
            with database.connection_context():
                start.wait()
                status = workflow.FAILED if thread % 2 else workflow.VALIDATING
                for flip in range(FLIPS):
                    other = workflow.VALIDATING if status == workflow.FAILED else workflow.FAILED
                    with database.atomic():
                        assert account_status.move(same_shard[thread], status, other)
                        _new_account(org, 1000 + thread * FLIPS + flip)  # an accept beside the moves
                    status = other
        except BaseException as error:  # reported below: a deadlock would be one
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    with database.connection_context():
        organisation = org["organisation"].id
        assert account_counts.total(organisation) == CustomerAccount.select().count() == len(accounts) + THREADS * FLIPS
        for status in workflow.STATUSES:
            counted = CustomerAccount.select().where(CustomerAccount.status == status).count()
            assert account_counts.total(organisation, status=status) == counted, status
        assert account_counts.total(organisation, kam_id=org["kam"].id) == CustomerAccount.select().count()
        assert AccountCount.select().where(AccountCount.n < 0).count() == 0
