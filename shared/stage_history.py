"""How a stage's attempts read to a person: runs, and retries within a run.

A stage row counts every attempt it ever had, so after "Edit parameters" or "Resend
credentials" a stage that ran again shows 2 attempts, which reads like a failure. Here the
attempts (StageAttempt rows) are split into runs: a new run begins after an attempt that
completed the stage (done or skipped); an attempt after one that raised, waited or gave up is a
retry within the same run (an operator's Retry of a failed account included).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import cast

from shared import workflow
from shared.models import StageAttempt

COMPLETED = (workflow.DONE, workflow.SKIPPED)


@dataclasses.dataclass(frozen=True)
class StageRuns:
    """How often a stage ran for one account, and how many attempts its latest run took."""

    runs: int  # how many runs the stage has had (0: never begun)
    attempts: int  # attempts in the latest run (1: no retry)

    @property
    def retried(self) -> bool:
        """Whether the latest run needed more than one attempt."""
        return self.attempts > 1


def stage_runs(account_id: int) -> dict[str, StageRuns]:
    """Per stage name, its number of runs and the attempts of its latest run."""
    rows = (
        StageAttempt.select(StageAttempt.stage, StageAttempt.outcome)
        .where(StageAttempt.account == account_id)
        .order_by(StageAttempt.stage, StageAttempt.attempt, StageAttempt.id)
        .tuples()
    )
    counts: dict[str, list[int]] = {}
    previous: dict[str, str | None] = {}
    for stage, outcome in cast("Iterable[tuple[str, str]]", rows):  # peewee's stubs type .tuples() rows as models
        runs, attempts = counts.get(stage, [0, 0])
        if runs == 0 or previous.get(stage) in COMPLETED:
            runs, attempts = runs + 1, 1
        else:
            attempts += 1
        counts[stage] = [runs, attempts]
        previous[stage] = outcome
    return {stage: StageRuns(runs, attempts) for stage, (runs, attempts) in counts.items()}
