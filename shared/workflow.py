"""The account-creation workflow, defined once: stages, statuses and legal transitions.

The gateway starts a workflow and the workers advance it, both through this module; neither
knows the other. A stage is named by its Dramatiq actor and queue, so sending a stage needs
nothing but its name.
"""

from __future__ import annotations

import dataclasses

# Account statuses.
PENDING = "pending"
VALIDATING = "validating"
PROVISIONING = "provisioning"
ACTIVATING = "activating"
SENDING_CREDENTIALS = "sending_credentials"
ACTIVE = "active"
REJECTED = "rejected"
FAILED = "failed"

STATUSES = (PENDING, VALIDATING, PROVISIONING, ACTIVATING, SENDING_CREDENTIALS, ACTIVE, REJECTED, FAILED)
#: No stage runs for an account in one of these; `failed` leaves only through an operator's retry.
FINAL_STATUSES = frozenset({ACTIVE, REJECTED, FAILED})

#: A rejected account is final: its parameters are not changed nor its credentials resent; the
#: KAM adds a new account with corrected details instead (the account page links to it).
REJECTED_IS_FINAL = "This account was rejected, which is final: add a new customer account with corrected details."


def rejected_refusal(status: str) -> str | None:
    """REJECTED_IS_FINAL when an account in `status` is rejected, so nothing about it may change
    any more; None otherwise. Every door that changes an account asks this first."""
    return REJECTED_IS_FINAL if status == REJECTED else None


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the workflow: its actor, queue and the account status it owns."""

    name: str  # also the actor name and the queue name
    status: str  # the account's status while this stage is due or running
    needs_access: bool  # skipped for a customer without access to the application


STAGES = (
    Stage("validate_customer", VALIDATING, needs_access=False),
    Stage("provision_access", PROVISIONING, needs_access=True),
    Stage("activate_markets", ACTIVATING, needs_access=True),
    Stage("send_credentials", SENDING_CREDENTIALS, needs_access=True),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
_BY_NAME = {s.name: s for s in STAGES}

# Stage-run states, as shown to users.
WAITING = "waiting"
RUNNING = "running"
RETRYING = "retrying"
DONE = "done"
SKIPPED = "skipped"
STAGE_REJECTED = "rejected"
STAGE_FAILED = "failed"
STAGE_STATES = (WAITING, RUNNING, RETRYING, DONE, SKIPPED, STAGE_REJECTED, STAGE_FAILED)

#: Where an account may go from each status. Everything that changes a status checks here.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({VALIDATING}),
    VALIDATING: frozenset({PROVISIONING, REJECTED, FAILED}),
    PROVISIONING: frozenset({ACTIVATING, REJECTED, FAILED}),
    ACTIVATING: frozenset({SENDING_CREDENTIALS, FAILED}),
    SENDING_CREDENTIALS: frozenset({ACTIVE, FAILED}),
    # An operator's retry puts a failed account back in the status of its failed stage.
    FAILED: frozenset({VALIDATING, PROVISIONING, ACTIVATING, SENDING_CREDENTIALS}),
    # A change of parameters re-runs only the stages it concerns (see the send-back function in shared/).
    ACTIVE: frozenset({PROVISIONING, ACTIVATING, SENDING_CREDENTIALS}),
    REJECTED: frozenset(),
}


class GiveUp(Exception):
    """An error no retry can mend (a mail server refusing an email for good, its 5xx): the
    stage gives up at its first attempt, and the account is `failed` with str() as the reason,
    for an operator to read, mend the cause and retry. Raised from a stage, it is Dramatiq's
    `throws` of every stage actor (workers.stage_actor.declare_stage); any other error is
    retried with backoff."""


class IllegalTransition(Exception):
    """A status change the workflow does not allow (a bug in the caller, not bad input)."""

    pass


def stage(name: str) -> Stage:
    """The stage named `name`. Raises KeyError for a name that is not a stage."""
    return _BY_NAME[name]


def check_transition(current: str, new: str) -> None:
    """Return if an account may go from `current` to `new` (staying put is allowed); else
    raise IllegalTransition naming both."""
    if new != current and new not in TRANSITIONS[current]:
        raise IllegalTransition(f"an account cannot go from {current!r} to {new!r}")


def next_stage(name: str) -> Stage | None:
    """The stage that runs after `name`, None after the last. Raises ValueError for an unknown name."""
    index = STAGE_NAMES.index(name)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def stage_due(status: str) -> Stage | None:
    """The stage that an account in `status` is waiting for, if any."""
    if status == PENDING:
        return STAGES[0]
    for s in STAGES:
        if s.status == status:
            return s
    return None


def status_after(name: str) -> str:
    """The account's status once stage `name` is done: the next stage's, or active after the last."""
    following = next_stage(name)
    return following.status if following else ACTIVE
