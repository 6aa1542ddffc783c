"""The one shape every stage actor has: load -> run the stage's function -> record -> hand on.

A stage function takes the account (and the settings) and returns an `Outcome`; it raises for
transient errors, which Dramatiq's Retries middleware retries with backoff.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable

import dramatiq

from shared import broker as broker_setup
from shared import stage_runs, workflow
from shared.config import Settings
from shared.db import database
from shared.models import CustomerAccount
from workers import metrics

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Outcome:
    rejected: dict[str, list[str]] | None = None
    waiting_for: str | None = None

    @classmethod
    def done(cls) -> Outcome:
        return cls()

    @classmethod
    def reject(cls, problems: dict[str, list[str]]) -> Outcome:
        return cls(rejected=problems)

    @classmethod
    def wait(cls, reason: str) -> Outcome:
        """Not now, and not a failure: the stage stays due and the reconciler sends it again."""
        return cls(waiting_for=reason)


StageFunction = Callable[[CustomerAccount, Settings], Outcome]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def run_stage(stage_name: str, account_id: int, fn: StageFunction, settings: Settings) -> None:
    stage = workflow.stage(stage_name)
    with database.connection_context():
        account = stage_runs.begin(account_id, stage_name, worker_name())
        if account is None:
            log.info("stage not due, nothing to do", extra={"account_id": account_id, "stage": stage_name})
            return
        if stage.needs_access and not account.app_access:
            moved = stage_runs.skip(account_id, stage_name)
        else:
            try:
                outcome = fn(account, settings)
            except Exception as error:
                stage_runs.record_error(account_id, stage_name, error)
                raise
            if outcome.waiting_for:
                stage_runs.wait(account_id, stage_name, outcome.waiting_for)
                log.info(
                    "stage waiting: %s", outcome.waiting_for, extra={"account_id": account_id, "stage": stage_name}
                )
                return
            if outcome.rejected:
                if stage_runs.reject(account_id, stage_name, outcome.rejected):
                    metrics.count_final(workflow.REJECTED)
                log.info("account rejected", extra={"account_id": account_id, "stage": stage_name})
                return
            moved = stage_runs.finish(account_id, stage_name)
    following = workflow.next_stage(stage_name)
    if moved and following:
        broker_setup.send_stage(following.name, account_id)
    elif moved:
        metrics.count_final(workflow.ACTIVE)


def declare_stage(broker, settings: Settings, stage_name: str, fn: StageFunction) -> dramatiq.Actor:
    def stage_actor(account_id: int) -> None:
        run_stage(stage_name, account_id, fn, settings)

    stage_actor.__name__ = stage_name
    return dramatiq.actor(stage_actor, broker=broker, actor_name=stage_name, queue_name=stage_name)
