"""Webhooks: telling an organisation's CRM when an account reaches active, rejected or failed.

Events are written as `WebhookDelivery` rows in the same transaction that moves the account
(an outbox), then delivered by the `deliver_webhook` actor, which drains an endpoint's pending
deliveries oldest first: a receiver that is down holds the queue back, so events arrive in the
order they happened. A delivery is claimed before it is posted and marked delivered on a 2xx,
so a delivery id is never posted again once it was received. Failures retry with Dramatiq's
exponential backoff; after the last retry the reconciler picks the endpoint up again later.

Deliveries are signed per the Standard Webhooks specification (`shared.webhook_signing`). Each
registration issues a new secret; the previous one keeps signing alongside it for
`ROTATION_OVERLAP` (two signatures), so a receiver can switch secrets without losing a delivery.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable

import peewee

from shared import account_status, broker, db, egress, queues, webhook_signing, webhook_transport, workflow
from shared.db import database
from shared.models import CustomerAccount, StageAttempt, WebhookDelivery, WebhookEndpoint, utcnow

log = logging.getLogger(__name__)

UNDELIVERED = ("pending", "sending")  # "delivered" and "cancelled" are final
EVENTS = {workflow.ACTIVE: "account.active", workflow.REJECTED: "account.rejected", workflow.FAILED: "account.failed"}
#: How long the previous secret keeps signing after a new registration (a rotation).
ROTATION_OVERLAP = dt.timedelta(hours=24)
POST_TIMEOUT_S = webhook_transport.DEFAULT_DEADLINE_S
#: Room for the database writes around the posts of one message (claims, "delivered" marks).
DATABASE_MARGIN_S = 10.0


def delivery_time_limit_s(deadline_s: float) -> float:
    """The time limit of one `deliver_webhook` message: it claims new deliveries for one
    deadline (`deliver_pending`'s `claim_for_s`), the last of them may take a deadline more, and
    the database its margin. Not the stages' STAGE_TIME_LIMIT_MS: a message draining a backlog
    for longer than its time limit was cut mid-post, leaving a claim behind (the delivery posted
    again after the lease, out of order) and the rest waiting for the reconciler."""
    return 2 * deadline_s + DATABASE_MARGIN_S


def claim_lease_s(deadline_s: float) -> float:
    """A claim older than this is presumed dead (its worker was killed mid-post): longer than a
    live message can hold one, its time limit, so a live post is never taken over."""
    return delivery_time_limit_s(deadline_s) + 5


CLAIM_LEASE_S = claim_lease_s(POST_TIMEOUT_S)

InvalidUrl = egress.InvalidUrl
check_url = egress.check_url


class DeliveryFailed(Exception):
    """The receiver did not take the delivery; Dramatiq retries the endpoint with backoff."""


def register(
    organisation_id: int, url: str, *, allow_private: bool = False, revoke_previous_secret: bool = False
) -> tuple[WebhookEndpoint, str]:
    """Make `url` the organisation's endpoint (replacing any other) and return its new secret —
    the only time it is shown. Events not delivered to the old URL move to the new one, still in
    their order, so replacing a broken URL is how an integrator gets them. Registering again is
    also how a secret is rotated: the previous secret signs too for `ROTATION_OVERLAP`, unless
    `revoke_previous_secret` (a leaked secret) erases it at once. Raises InvalidUrl for a URL
    kamflow will not send to (shared.egress)."""
    check_url(url, allow_private=allow_private)
    secret = webhook_signing.new_secret()
    with database.atomic():
        previous = [
            e.id
            for e in WebhookEndpoint.select(WebhookEndpoint.id).where(WebhookEndpoint.organisation == organisation_id)
        ]
        WebhookEndpoint.update(active=False).where(WebhookEndpoint.organisation == organisation_id).execute()
        if revoke_previous_secret:
            WebhookEndpoint.update(secret="").where(WebhookEndpoint.organisation == organisation_id).execute()
        endpoint = WebhookEndpoint.create(organisation=organisation_id, url=url, secret=secret)
        moved = (
            WebhookDelivery.update(endpoint=endpoint, state="pending", claimed_at=None)
            .where(WebhookDelivery.endpoint.in_(previous or [0]) & WebhookDelivery.state.in_(UNDELIVERED))
            .execute()
        )
    if moved:
        wake([endpoint.id])
    return endpoint, secret


def previous_secret(endpoint: WebhookEndpoint) -> tuple[str, dt.datetime] | None:
    """The secret this endpoint's registration replaced, and until when it still signs; None
    when the overlap is over, the secret was revoked, or there was none."""
    until = endpoint.created_at + ROTATION_OVERLAP
    if until <= utcnow():
        return None
    replaced = (
        WebhookEndpoint.select(WebhookEndpoint.secret)
        .where((WebhookEndpoint.organisation == endpoint.organisation_id) & (WebhookEndpoint.id < endpoint.id))
        .order_by(WebhookEndpoint.id.desc())
        .first()
    )
    return (replaced.secret, until) if replaced is not None and replaced.secret else None


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets a delivery is signed with: the current one, then the previous one in its overlap."""
    previous = previous_secret(endpoint)
    return [endpoint.secret] + ([previous[0]] if previous else [])


def _active() -> peewee.Expression:
    return WebhookEndpoint.active == True  # noqa: E712


_ACTIVE_ENDPOINT = db.Prepared(
    lambda: (
        WebhookEndpoint.select().where((WebhookEndpoint.organisation == db.param("organisation")) & _active()).limit(1)
    )
)


def _endpoint_of(account: peewee.Node) -> peewee.Node:
    """The id of the active endpoint of the account's organisation, NULL if it has none (SQL)."""
    organisation = CustomerAccount.select(CustomerAccount.organisation).where(CustomerAccount.id == account)
    return (
        WebhookEndpoint.select(WebhookEndpoint.id)
        .where((WebhookEndpoint.organisation == organisation) & _active())
        .limit(1)
    )


#: Where an account's event goes, read with the move that brings it to an event's status
#: (shared.stage_runs): in the move's statement on PostgreSQL, as most events have no endpoint.
ENDPOINT = account_status.Reading(lambda account: [_endpoint_of(account)])


def active_endpoint(organisation_id: int) -> WebhookEndpoint | None:
    """The organisation's active webhook endpoint, or None when it has registered none."""
    return _ACTIVE_ENDPOINT.first(organisation=organisation_id)


def unregister(organisation_id: int) -> int:
    """Stop sending: the endpoint is switched off and its undelivered events are cancelled (they
    stay in the delivery log, marked so)."""
    with database.atomic():
        endpoints = [
            e.id
            for e in WebhookEndpoint.select(WebhookEndpoint.id).where(WebhookEndpoint.organisation == organisation_id)
        ]
        WebhookDelivery.update(state="cancelled").where(
            WebhookDelivery.endpoint.in_(endpoints or [0]) & WebhookDelivery.state.in_(UNDELIVERED)
        ).execute()
        return WebhookEndpoint.update(active=False).where(WebhookEndpoint.organisation == organisation_id).execute()


def reading(status: str) -> account_status.Reading | None:
    """What to read with a move to `status` for `record_event`: ENDPOINT for an event's status."""
    return ENDPOINT if status in EVENTS else None


def record_event(
    account_id: int, status: str, endpoint_id: int | None, account: CustomerAccount | None = None
) -> list[int]:
    """Write the deliveries for an account reaching `status`; call inside the transaction that
    moved it. Returns the endpoint ids to wake up after commit. `endpoint_id`: the active
    endpoint of the account's organisation, read with the move (ENDPOINT), None if it has none.
    `account`: the account as it is in this transaction, when the caller has it (else it is read)."""
    event = EVENTS.get(status)
    if event is None or endpoint_id is None:
        return []
    if account is None:
        account = CustomerAccount.get_by_id(account_id)
    if status == workflow.ACTIVE and _was_active_before(account_id):
        return []  # active again after a resend or an edit: the account did not *become* active
    _hold_order(endpoint_id)
    delivery_id = uuid.uuid4()
    payload = {
        "id": str(delivery_id),
        "event": event,
        "created_at": utcnow().isoformat() + "Z",
        "account": {
            "id": account.id,
            "status": status,
            "company": account.company,
            "customer_reference": account.customer_reference,
            "rejection_reasons": account.rejection_reasons,
            "links": {"self": f"/api/v1/customer-accounts/{account.id}"},
        },
    }
    WebhookDelivery.create(
        delivery_id=delivery_id, endpoint=endpoint_id, account=account_id, event=event, payload=payload
    )
    return [endpoint_id]


def _hold_order(endpoint_id: int) -> None:
    """Deliveries go out in id order, so ids must be given in the order the events commit.
    Two stages settling at once for one organisation could otherwise take ids 10 and 11 and
    commit 11 first: a delivery run would post 11, then find 10. Locking the endpoint's row
    until commit serialises them (SQLite's writer lock already does)."""
    if database.for_update:
        WebhookEndpoint.select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id).for_update().execute()


def _was_active_before(account_id: int) -> bool:
    """Whether the account was active before the move being recorded now. The last stage ends
    every way to `active` (done or skipped), and each run leaves an attempt: more than one
    finished attempt means an earlier activation, whether or not a URL was registered then."""
    last_stage = workflow.STAGE_NAMES[-1]
    finished = (
        StageAttempt.select()
        .where(
            (StageAttempt.account == account_id)
            & (StageAttempt.stage == last_stage)
            & StageAttempt.outcome.in_((workflow.DONE, workflow.SKIPPED))
        )
        .count()
    )
    return finished > 1


def wake(endpoint_ids: list[int]) -> None:
    """Send the deliver actor for each endpoint (after commit). If the broker is unreachable the
    deliveries wait in the database and the reconciler wakes the endpoint later."""
    for endpoint_id in endpoint_ids:
        try:
            broker.send(queues.DELIVER_WEBHOOK, endpoint_id)
        except Exception as error:
            log.warning("webhook for endpoint %s not enqueued (%s); the reconciler will", endpoint_id, error)


_post = webhook_transport.post  # public addresses only, no redirects, one deadline


def _claim_next(endpoint_id: int, lease_s: float) -> WebhookDelivery | None:
    """The oldest undelivered delivery of the endpoint, claimed; None when there is none or when
    another live run holds it (that run is draining the endpoint)."""
    oldest = (
        WebhookDelivery.select()
        .where((WebhookDelivery.endpoint == endpoint_id) & WebhookDelivery.state.in_(UNDELIVERED))
        .order_by(WebhookDelivery.id)
        .first()
    )
    if oldest is None:
        return None
    now = utcnow()
    stale = now - dt.timedelta(seconds=lease_s)
    claimed = (
        WebhookDelivery.update(state="sending", claimed_at=now, attempts=WebhookDelivery.attempts + 1)
        .where(
            (WebhookDelivery.id == oldest.id)
            & ((WebhookDelivery.state == "pending") | (WebhookDelivery.claimed_at < stale))
        )
        .execute()
    )
    return WebhookDelivery.get_by_id(oldest.id) if claimed else None


def _with_absolute_links(payload: dict, base_url: str) -> dict:
    links = payload.get("account", {}).get("links", {})
    if not base_url or not links.get("self", "").startswith("/"):
        return payload
    return {**payload, "account": {**payload["account"], "links": {**links, "self": base_url + links["self"]}}}


def deliver_pending(
    endpoint_id: int,
    post: Callable[[str, bytes, dict], int] = _post,
    base_url: str = "",
    *,
    deadline_s: float = POST_TIMEOUT_S,
    claim_for_s: float | None = None,
) -> int:
    """Post the endpoint's pending deliveries in order; returns how many were delivered.
    Raises DeliveryFailed at the first one the receiver does not take. Links in the stored
    payload are paths; they are posted under `base_url` (BASE_URL). `deadline_s`: the deadline
    of one post (`post`'s), from which a claim's lease follows. `claim_for_s`: no new delivery
    is claimed after that many seconds; what is left goes to a new message for the endpoint
    (`wake`), so one message lasts at most `delivery_time_limit_s`, however long the backlog."""
    endpoint = WebhookEndpoint.get_or_none(WebhookEndpoint.id == endpoint_id)
    if endpoint is None or not endpoint.active:
        return 0
    delivered, lease_s = 0, claim_lease_s(deadline_s)
    claim_until = None if claim_for_s is None else time.monotonic() + claim_for_s
    while True:
        if claim_until is not None and time.monotonic() >= claim_until:
            wake([endpoint_id])  # the rest in a message of its own (the reconciler's, if Redis is away)
            return delivered
        delivery = _claim_next(endpoint_id, lease_s)
        if delivery is None:
            return delivered
        body = json.dumps(_with_absolute_links(delivery.payload, base_url), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "kamflow-webhooks/1",
            **webhook_signing.headers(str(delivery.delivery_id), delivery.event, body, signing_secrets(endpoint)),
        }
        status: int | None = None
        try:
            status = post(endpoint.url, body, headers)
            error = None if 200 <= status < 300 else webhook_transport.describe_status(status)
        except webhook_transport.DeliveryError as failure:  # a coarse category, never socket text
            error = str(failure)
        if error is None:
            WebhookDelivery.update(
                state="delivered", delivered_at=utcnow(), last_status_code=status, last_error=None
            ).where(WebhookDelivery.id == delivery.id).execute()
            delivered += 1
            continue
        # Back to pending only from the claim this run holds: a DELETE of the URL made while the
        # post was in flight cancelled it, and a cancelled event must not come back to life.
        WebhookDelivery.update(state="pending", last_status_code=status, last_error=error[:2000]).where(
            (WebhookDelivery.id == delivery.id) & (WebhookDelivery.state == "sending")
        ).execute()
        # Logged by Dramatiq and kept with a dead letter: the receiver's origin, not its URL (egress.origin).
        raise DeliveryFailed(f"delivery {delivery.delivery_id} to {egress.origin(endpoint.url)}: {error}")
    return delivered


def stalled_endpoints(stall_after_s: float) -> list[int]:
    """Endpoints with a delivery left pending (retries exhausted, a lost message) for a while."""
    cutoff = utcnow() - dt.timedelta(seconds=stall_after_s)
    rows = (
        WebhookDelivery.select(WebhookDelivery.endpoint)
        .join(WebhookEndpoint)
        .where(
            (WebhookEndpoint.active == True)  # noqa: E712
            & WebhookDelivery.state.in_(UNDELIVERED)
            & (peewee.fn.COALESCE(WebhookDelivery.claimed_at, WebhookDelivery.created_at) < cutoff)
        )
        .distinct()
    )
    return [row.endpoint_id for row in rows]


def deliveries(organisation_id: int, page: int, per_page: int) -> tuple[list[WebhookDelivery], int]:
    """One page of the organisation's delivery log, newest first, with each delivery's endpoint,
    and the total number of deliveries."""
    query = (
        WebhookDelivery.select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint)
        .where(WebhookEndpoint.organisation == organisation_id)
    )
    total = query.count()
    return list(query.order_by(WebhookDelivery.id.desc()).paginate(page, per_page)), total


def describe_delivery(delivery: WebhookDelivery) -> dict:
    """The delivery as the API shows it (plain values; the event id as a string)."""
    return {
        "delivery_id": str(delivery.delivery_id),
        "event": delivery.event,
        "account_id": delivery.account_id,
        "url": delivery.endpoint.url,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
    }
