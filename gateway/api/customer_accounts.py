"""/api/v1/customer-accounts: create (202, idempotent), read one, list."""

from __future__ import annotations

import peewee
from flask import current_app, g, jsonify, request, url_for
from flask_smorest import Blueprint, abort

from gateway.api.auth import authenticate
from shared import accounts, idempotency
from shared.db import database
from shared.schemas import AccountListQuerySchema, AccountListSchema, AccountRequestSchema, AccountViewSchema

blp = Blueprint(
    "customer_accounts",
    __name__,
    url_prefix="/api/v1/customer-accounts",
    description="Create customer accounts and follow their workflow",
)
blp.before_request(authenticate)

VIEW = AccountViewSchema()


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _replay(record, request_hash: str):
    if record.request_hash != request_hash:
        abort(
            422,
            message="This Idempotency-Key was already used with a different body. "
            "Use a new key for a new request, or send the original body again.",
            errors={"headers": {"Idempotency-Key": ["Already used with a different body."]}},
        )
    response = jsonify(record.response_body)
    response.status_code = record.response_status
    response.headers["Location"] = record.response_body["links"]["self"]
    response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.post("")
@blp.arguments(AccountRequestSchema)
@blp.response(202, AccountViewSchema, description="Accepted: the workflow has started (status `pending`).")
@blp.alt_response(401, description="Missing or invalid token")
@blp.alt_response(422, description="Invalid body, unknown KAM, or Idempotency-Key reused with another body")
def create(request_data):
    """Create a customer account.

    Send an `Idempotency-Key` header to retry safely: the same key with the same body returns
    the first answer and creates nothing more.
    """
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key and len(key) > idempotency.MAX_KEY_LENGTH:
        abort(400, message=f"Idempotency-Key must be at most {idempotency.MAX_KEY_LENGTH} characters.")
    request_hash = idempotency.fingerprint(request.get_json())
    organisation = g.organisation
    if key and (record := idempotency.lookup(organisation.id, key)):
        return _replay(record, request_hash)
    try:
        kam = accounts.find_kam(organisation, request_data["kam_email"])
    except accounts.UnknownKam:
        abort(422, message="Unknown KAM.", errors={"json": {"kam_email": [
            "No active KAM or manager of your organisation has this email."]}})
    try:
        with database.atomic():
            account = accounts.insert_account(organisation, kam, request_data, actor=f"api-token:{g.api_token.name}")
            body = VIEW.dump(accounts.describe(account, _base_url()))
            if key:
                idempotency.remember(organisation.id, key, request_hash, 202, body, account.id)
    except peewee.IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        record = key and idempotency.lookup(organisation.id, key)
        if not record:
            raise
        return _replay(record, request_hash)
    accounts.start_workflow(account.id)
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["links"]["self"]
    return response


@blp.get("/<int:account_id>")
@blp.response(200, AccountViewSchema)
@blp.alt_response(404, description="No such account in your organisation")
def get_one(account_id: int):
    """One account: its status, markets and stages."""
    account = accounts.get_account(g.organisation, account_id)
    if account is None:
        abort(404, message=f"No customer account {account_id} in your organisation.")
    return accounts.describe(account, _base_url())


@blp.get("")
@blp.arguments(AccountListQuerySchema, location="query")
@blp.response(200, AccountListSchema)
def list_all(query):
    """The organisation's accounts, newest first, optionally filtered by status."""
    items, total = accounts.list_accounts(
        g.organisation, status=query.get("status"), page=query["page"], per_page=query["per_page"]
    )
    return {
        "items": [accounts.describe(a, _base_url()) for a in items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }
