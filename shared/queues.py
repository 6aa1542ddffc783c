"""Every queue kamflow's workers consume, named once, so /ops, the CLI and the health checks
watch the same list: one queue per stage, plus the maintenance queues. Add a queue here and
it shows up everywhere an operator looks.
"""

from __future__ import annotations

from shared import workflow

#: Dramatiq's Redis namespace (RedisBroker's default): keys are `dramatiq:<queue>`.
NAMESPACE = "dramatiq"

#: Outgoing webhooks to CRMs (the CRM API's delivery actor).
DELIVER_WEBHOOK = "deliver_webhook"

MAINTENANCE_QUEUES = (DELIVER_WEBHOOK,)


#: Queues that talk to other organisations' servers run on their own worker pool, so a slow
#: or trickling receiver can hold only delivery threads, never the stages of anyone's accounts.
DELIVERY_QUEUES = (DELIVER_WEBHOOK,)


def queue_names() -> tuple[str, ...]:
    """The stage queues in workflow order, then the maintenance queues."""
    return workflow.STAGE_NAMES + MAINTENANCE_QUEUES


def stage_pool_queues() -> tuple[str, ...]:
    """What the main worker pool consumes: every queue but the deliveries."""
    return tuple(q for q in queue_names() if q not in DELIVERY_QUEUES)


def ready_key(queue: str) -> str:
    """The Redis list the broker reads `queue`'s ready messages from."""
    return f"{NAMESPACE}:{queue}"


def delayed_key(queue: str) -> str:
    """The Redis sorted set of `queue`'s delayed messages (retries waiting for their backoff)."""
    return f"{NAMESPACE}:{queue}.DQ"


def dead_key(queue: str) -> str:
    """A sorted set of dead-lettered Redis message ids, scored by when they died (ms)."""
    return f"{NAMESPACE}:{queue}.XQ"


def dead_messages_key(queue: str) -> str:
    """A hash: Redis message id -> the encoded dramatiq message."""
    return f"{NAMESPACE}:{queue}.XQ.msgs"


HEARTBEATS_KEY = f"{NAMESPACE}:__heartbeats__"
