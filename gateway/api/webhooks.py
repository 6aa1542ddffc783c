"""/api/v1/webhook: register the organisation's callback URL; read the delivery log."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort

from gateway.api.auth import authenticate
from gateway.api.parsing import Blueprint
from shared import webhook_signing, webhooks
from shared.db import database
from shared.models import AuditEvent
from shared.schemas import (
    PageQuerySchema,
    WebhookDeliveryListSchema,
    WebhookEndpointViewSchema,
    WebhookRegistrationSchema,
)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhook",
    description="Be told when an account reaches active, rejected or failed",
)
blp.before_request(authenticate)


def _view(endpoint, secret=None) -> dict:
    view = {
        "url": endpoint.url,
        "active": endpoint.active,
        "created_at": endpoint.created_at,
        "signature_header": webhook_signing.SIGNATURE_DOC,
        "events": sorted(webhooks.EVENTS.values()),
        "previous_secret_valid_until": (previous[1] if (previous := webhooks.previous_secret(endpoint)) else None),
    }
    if secret:
        view["secret"] = secret
    return view


@blp.put("")
@blp.arguments(WebhookRegistrationSchema)
@blp.response(201, WebhookEndpointViewSchema, description="Registered. The secret is shown this once.")
def register(data):
    """Register (or replace) the callback URL, with a new secret. Each event is POSTed as JSON,
    signed per Standard Webhooks. Registering again rotates the secret: for 24 hours deliveries
    carry two signatures (new and previous secret), unless `revoke_previous_secret` is true."""
    allow_private = current_app.config["KAMFLOW"].webhook_allow_private_networks
    with database.atomic():
        try:
            endpoint, secret = webhooks.register(
                g.organisation.id,
                data["url"],
                allow_private=allow_private,
                revoke_previous_secret=data["revoke_previous_secret"],
            )
        except webhooks.InvalidUrl as refused:
            abort(422, message="kamflow will not send to this URL.", errors={"json": {"url": [str(refused)]}})
        AuditEvent.create(
            organisation=g.organisation,
            actor=f"api-token:{g.api_token.name}",
            action="webhook.registered",
            detail={"url": data["url"]},
        )
    return _view(endpoint, secret)


@blp.get("")
@blp.response(200, WebhookEndpointViewSchema)
@blp.alt_response(404, description="No callback URL registered")
def show():
    """The registered callback URL (never the secret)."""
    endpoint = webhooks.active_endpoint(g.organisation.id)
    if endpoint is None:
        abort(404, message="No webhook is registered for your organisation.")
    return _view(endpoint)


@blp.delete("")
@blp.response(204)
def remove():
    """Stop sending events."""
    webhooks.unregister(g.organisation.id)


@blp.get("/deliveries")
@blp.arguments(PageQuerySchema, location="query", unknown=None)  # None: the schema says RAISE
@blp.response(200, WebhookDeliveryListSchema)
def delivery_log(query):
    """Every delivery, newest first: its state, attempts, and the receiver's last answer."""
    items, total = webhooks.deliveries(g.organisation.id, query["page"], query["per_page"])
    return {
        "items": [webhooks.describe_delivery(d) for d in items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }
