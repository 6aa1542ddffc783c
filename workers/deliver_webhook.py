"""Posting webhook deliveries to an organisation's endpoint, in order, with backoff retries.

Its own queue, so a slow receiver never holds up account stages. A give-up leaves the
deliveries pending in the database, where the reconciler finds them again later. Its own time
limit too, from the delivery deadline (`webhooks.delivery_time_limit_s`): a message claims new
deliveries for one deadline, then hands the rest of a backlog to a new message.
"""

from __future__ import annotations

import functools

import dramatiq

from shared import queues, webhook_transport, webhooks
from shared.config import Settings
from shared.db import database


def declare(broker, settings: Settings) -> dramatiq.Actor:
    post = functools.partial(
        webhook_transport.post,
        allow_private=settings.webhook_allow_private_networks,
        deadline_s=settings.webhook_timeout_s,
    )

    deadline_s = settings.webhook_timeout_s

    def deliver_webhook(endpoint_id: int) -> None:
        with database.connection_context():
            try:
                webhooks.deliver_pending(
                    endpoint_id,
                    post=post,
                    base_url=settings.public_base_url,
                    deadline_s=deadline_s,
                    claim_for_s=deadline_s,
                )
            except webhooks.DeliveryFailed as failure:
                # An expected outcome (the receiver is down), not a bug: Retry gets the same
                # backoff without a traceback in the log for every attempt.
                raise dramatiq.Retry(str(failure)) from None

    return dramatiq.actor(
        deliver_webhook,
        broker=broker,
        actor_name=queues.DELIVER_WEBHOOK,
        queue_name=queues.DELIVER_WEBHOOK,
        max_retries=settings.webhook_max_retries,
        min_backoff=settings.webhook_min_backoff_ms,
        max_backoff=settings.webhook_max_backoff_ms,
        time_limit=int(webhooks.delivery_time_limit_s(deadline_s) * 1000),
    )
