"""What an operator does to failed accounts: retry them from the stage that failed.

(What an operator sees — queues, workers, stages, accounts by status — is shared.observability.)
"""

from __future__ import annotations


from shared import broker as broker_setup
from shared import workflow
from shared.db import database
from shared.models import CustomerAccount, StageRun, utcnow


class CannotRetry(Exception):
    pass


def failed_stage(account: CustomerAccount) -> str | None:
    run = (
        StageRun.select()
        .where((StageRun.account == account.id) & (StageRun.state == workflow.STAGE_FAILED))
        .first()
    )
    return run.stage if run else None


def retry(account_id: int) -> str:
    """Put a failed account back at the stage that failed, and send that stage. Returns its name."""
    with database.atomic():
        account = CustomerAccount.get_or_none(CustomerAccount.id == account_id)
        if account is None:
            raise CannotRetry(f"no customer account {account_id}")
        if account.status != workflow.FAILED:
            raise CannotRetry(f"account {account_id} is {account.status}, not failed: nothing to retry")
        stage_name = failed_stage(account)
        if stage_name is None:
            raise CannotRetry(f"account {account_id} has no failed stage on record")
        stage = workflow.stage(stage_name)
        workflow.check_transition(account.status, stage.status)
        CustomerAccount.update(status=stage.status, updated_at=utcnow()).where(
            CustomerAccount.id == account_id
        ).execute()
        StageRun.update(state=workflow.WAITING, error=None, finished_at=None).where(
            (StageRun.account == account_id) & (StageRun.stage == stage_name)
        ).execute()
    broker_setup.send_stage(stage_name, account_id)
    return stage_name
