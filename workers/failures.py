"""Middleware: when Dramatiq gives up on a stage, the account is `failed` at that stage.

Retries marks the message failed once its retries are exhausted; this records it where people
look, so nothing is silently dropped. Dramatiq runs "after" hooks in reverse list order, so it
is added *before* Retries in the list to run after it.
"""

import logging

from dramatiq import Middleware

from shared import stage_runs, workflow
from shared.db import database
from workers import metrics

log = logging.getLogger(__name__)


class RecordGiveUps(Middleware):
    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed or message.actor_name not in workflow.STAGE_NAMES:
            return
        account_id = message.args[0]
        with database.connection_context():
            if stage_runs.fail(account_id, message.actor_name, exception):
                metrics.count_final(workflow.FAILED)
        log.error(
            "stage gave up after its retries",
            extra={"account_id": account_id, "stage": message.actor_name},
        )
