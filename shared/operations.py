"""What an operator does to failed accounts: retry them from the stage that failed.

(What an operator sees — queues, workers, stages, accounts by status — is shared.observability.)
"""

from __future__ import annotations

from shared import account_status, workflow
from shared.db import database
from shared.models import CustomerAccount, StageRun


class CannotRetry(Exception):
    """The account exists but is not in a state to retry; str() says why, for a person."""


class NoSuchAccount(CannotRetry):
    """There is no account with that id: a door answers 404, not "not retried"."""


def failed_stage(account: CustomerAccount) -> str | None:
    """The name of the stage at which the account failed, or None when no stage run is failed."""
    run = StageRun.select().where((StageRun.account == account.id) & (StageRun.state == workflow.STAGE_FAILED)).first()
    return run.stage if run else None


def retry(account_id: int) -> str:
    """Put a failed account back at the stage that failed, and send that stage (or leave it to
    the reconciler when the broker is unreachable). Returns the stage's name. Raises
    NoSuchAccount for an unknown id and CannotRetry (saying why) for an account that is not
    failed or changed meanwhile; nothing is written or sent then."""
    with database.atomic():
        account = CustomerAccount.get_or_none(CustomerAccount.id == account_id)
        if account is None:
            raise NoSuchAccount(f"no customer account {account_id}")
        if account.status != workflow.FAILED:
            raise CannotRetry(f"account {account_id} is {account.status}, not failed: nothing to retry")
        stage_name = failed_stage(account)
        if stage_name is None:
            raise CannotRetry(f"account {account_id} has no failed stage on record")
        if not account_status.send_back(account_id, workflow.FAILED, [stage_name]):
            raise CannotRetry(f"account {account_id} changed meanwhile: reload and look again")
    account_status.send_stage(stage_name, account_id)
    return stage_name
