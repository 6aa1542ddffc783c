"""/api/v1/customer-accounts: create (202, idempotent), read one, list."""

from __future__ import annotations

import dramatiq
import peewee
from flask import current_app, g, jsonify, request
from flask_smorest import abort

from gateway.api.auth import authenticate
from gateway.api.parsing import Blueprint
from shared import accounts, claims, dead_letters, idempotency, operations, parameters, resend
from shared.change_schemas import AccountPatchSchema
from shared.schemas import (
    PRINTABLE_PATTERN,
    AccountListQuerySchema,
    AccountListSchema,
    AccountRequestSchema,
    AccountViewSchema,
    plain_dumper,
)

blp = Blueprint(
    "customer_accounts",
    __name__,
    url_prefix="/api/v1/customer-accounts",
    description="Create customer accounts and follow their workflow",
)
blp.before_request(authenticate)

VIEW = AccountViewSchema()
#: VIEW.dump of a described account, without marshmallow's per-field overhead (the 202's body).
VIEW_DUMP = plain_dumper(VIEW)
#: One instance for every request (given a class, webargs builds a schema per request, and each
#: of its nested schemas again): a fifth of a POST's validation time.
REQUEST = AccountRequestSchema()
#: An account id in a path; larger than a 64-bit id cannot exist, so it is a 404, not a database error.
ACCOUNT = "/<int(max=9223372036854775807):account_id>"


def _base_url() -> str:
    """BASE_URL, never the request's Host header: a forged Host must not reach a Location, a
    link, or an answer stored for idempotent replay."""
    return current_app.config["KAMFLOW"].public_base_url


def _replay(record, request_hash: str):
    if record.request_hash != request_hash:
        abort(
            422,
            message="This Idempotency-Key was already used with a different body. "
            "Use a new key for a new request, or send the original body again.",
            errors={"headers": {"Idempotency-Key": ["Already used with a different body."]}},
        )
    body = record.response_body
    if record.account_id:  # links rebuilt under BASE_URL: a stored answer never replays a forged host
        body = {
            **body,
            "links": {**body.get("links", {}), "self": f"{_base_url()}/api/v1/customer-accounts/{record.account_id}"},
        }
    response = jsonify(body)
    response.status_code = record.response_status
    response.headers["Location"] = body["links"]["self"]
    response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.post("")
@blp.arguments(REQUEST)
@blp.doc(
    parameters=[
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            # key_problem's rules: printable (schemas.REFUSED_RANGES), at most MAX_KEY_LENGTH
            "schema": {"type": "string", "maxLength": idempotency.MAX_KEY_LENGTH, "pattern": PRINTABLE_PATTERN},
            "description": "Retry safely: the same key with the same body returns the first answer (kept at least "
            "24 hours) and creates nothing; with another body it is refused (422). Spaces around it are ignored "
            "and an empty key is no key; a control character in it is refused (400).",
        }
    ]
)
@blp.response(
    202,
    AccountViewSchema,
    description="Accepted: the workflow has started (status `pending`).",
    headers={
        "Location": {"description": "The account's URL", "schema": {"type": "string", "format": "uri"}},
        "Idempotent-Replayed": {
            "description": "`true` when this is the stored first answer (absent otherwise)",
            "schema": {"type": "string", "enum": ["true"]},
        },
    },
)
@blp.alt_response(
    409,
    description="Another account already holds this email (a login) or this customer reference: "
    "`existing_account` names it when it is yours",
)
@blp.alt_response(422, description="Invalid body, unknown KAM, or Idempotency-Key reused with another body")
def create(request_data):
    """Create a customer account.

    Send an `Idempotency-Key` header to retry safely: the same key with the same body returns
    the first answer and creates nothing more.
    """
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key and (problem := idempotency.key_problem(key)):
        abort(
            400,
            message=f"Idempotency-Key {problem[0].lower()}{problem[1:]}",
            errors={"headers": {"Idempotency-Key": [problem]}},
        )
    request_hash = idempotency.fingerprint(request.get_json())
    organisation = g.organisation
    # A key already used is found where the request cannot go on (an unknown KAM, a claim held,
    # the key's unique index refusing the write), not read first: a first request, by far the
    # most common, pays no lookup. Every refusal looks first, so a key used before answers as
    # it did before anything else is said.
    try:
        checked = accounts.check_request(organisation, request_data["kam_email"], request_data["customer"])
    except accounts.UnknownKam:
        if key and (record := idempotency.lookup(organisation.id, key)):
            return _replay(record, request_hash)
        abort(
            422,
            message="Unknown KAM.",
            errors={"json": {"kam_email": ["No active KAM or manager of your organisation has this email."]}},
        )
    answer: dict = {}

    def remember(account):
        """The answer, described from what is being written; with a key, its record to write too."""
        answer["body"] = VIEW_DUMP(accounts.describe(account, _base_url()))
        if key:
            return idempotency.remember(organisation.id, key, request_hash, 202, answer["body"], account.id)
        return None

    try:
        accounts.create_account(
            organisation, checked.kam, request_data, actor=_actor(), remember=remember, checked=checked
        )
    except claims.IdentityTaken as taken:
        # The same key sent twice at once: the first request holds the claims, answer as it did.
        if key and (record := idempotency.lookup(organisation.id, key)):
            return _replay(record, request_hash)
        _refuse_taken(str(taken), taken.errors, taken.account_id)
    except peewee.IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        record = key and idempotency.lookup(organisation.id, key)
        if not record:
            raise
        return _replay(record, request_hash)
    response = jsonify(answer["body"])
    response.status_code = 202
    response.headers["Location"] = answer["body"]["links"]["self"]
    return response


def _refuse_taken(message: str, errors: dict, account_id: int | None):
    """409 naming the account that holds the email or the reference (when it is the caller's):
    the answer of a creation and of a PATCH alike."""
    extra = {}
    if account_id is not None:
        extra["existing_account"] = {
            "id": account_id,
            "links": {"self": f"{_base_url()}/api/v1/customer-accounts/{account_id}"},
        }
    abort(409, message=message, errors={"json": errors}, **extra)


@blp.get(ACCOUNT)
@blp.response(200, AccountViewSchema)
@blp.alt_response(404, description="No such account in your organisation")
def get_one(account_id: int):
    """One account: its status, markets and stages."""
    return accounts.describe(_account_or_404(account_id), _base_url())


@blp.get("")
@blp.arguments(AccountListQuerySchema, location="query", unknown=None)  # None: the schema says RAISE
@blp.response(200, AccountListSchema)
def list_all(query):
    """The organisation's accounts, newest first (a stable order), filtered by status, demo, KAM or
    last change."""
    filters = {key: query[key] for key in ("status", "is_demo", "kam_email", "updated_since") if key in query}
    items, total = accounts.list_accounts(g.organisation, page=query["page"], per_page=query["per_page"], **filters)
    return {
        "items": accounts.describe_page(items, _base_url()),
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }


def _account_or_404(account_id: int):
    account = accounts.get_account(g.organisation, account_id)
    if account is None:
        abort(404, message=f"No customer account {account_id} in your organisation.")
    return account


def _actor() -> str:
    return f"api-token:{g.api_token.name}"


@blp.patch(ACCOUNT)
@blp.arguments(AccountPatchSchema)
@blp.response(200, AccountViewSchema)
@blp.alt_response(404, description="No such account in your organisation")
@blp.alt_response(
    409,
    description="The account is not in a state that allows this change now, or another account or login already "
    "holds the customer reference or the email: `existing_account` names it when it is yours",
)
@blp.alt_response(422, description="Invalid change (the email can never change)")
def change(change_data, account_id: int):
    """Change the account's parameters. Send `customer` with only the fields that change, and/or
    the whole `setup`. Only the stages the change concerns run again (access No -> Yes:
    provision_access, activate_markets, send_credentials; new or changed markets:
    activate_markets; a demo converted (`is_demo` false) after its trial ended: send_credentials,
    new credentials for the login it gives back). The email cannot change (422)."""
    account = _account_or_404(account_id)
    if "setup" in change_data:
        sent = request.get_json()["setup"].get("markets") or []
        if kept := parameters.keep_stored_start_dates(account, sent, change_data["setup"]):
            abort(422, errors={"json": {"setup": kept}})
        problems = parameters.setup_problems(g.organisation.id, change_data["setup"])
        if problems:
            abort(422, message="The set-up does not fit your organisation.", errors={"json": {"setup": problems}})
    try:
        applied = parameters.apply_change(account, change_data, actor=_actor())
    except (parameters.ClaimTaken, parameters.LoginTaken) as taken:
        _refuse_taken(taken.message, taken.errors, taken.account_id)
    except parameters.ChangeRefused as refused:
        code = 409 if "_schema" in refused.errors else 422
        abort(
            code,
            message=" ".join(refused.errors.get("_schema", ["The change is not valid."])),
            errors={"json": refused.errors},
        )
    parameters.start_reruns(account.id, applied)
    return accounts.describe(accounts.get_account(g.organisation, account_id), _base_url())


@blp.post(f"{ACCOUNT}/retry")
@blp.response(202, AccountViewSchema, description="The failed stage is sent again.")
@blp.alt_response(404, description="No such account in your organisation")
@blp.alt_response(409, description="The account is not failed")
def retry(account_id: int):
    """Resume a `failed` account from the stage that failed."""
    account = _account_or_404(account_id)
    try:
        dead_letters.retry_account(dramatiq.get_broker().client, account.id)
    except operations.CannotRetry as refused:
        abort(409, message=str(refused))
    return accounts.describe(accounts.get_account(g.organisation, account_id), _base_url())


@blp.post(f"{ACCOUNT}/resend-credentials")
@blp.response(202, AccountViewSchema, description="A new credentials email (with a new link) is on its way.")
@blp.alt_response(404, description="No such account in your organisation")
@blp.alt_response(409, description="No access, or not active yet")
def resend_credentials(account_id: int):
    """Send the contact a new credentials email; earlier set-password links stop working."""
    account = _account_or_404(account_id)
    try:
        resend.request_resend(account, actor=_actor())
    except resend.CannotResend as refused:
        abort(409, message=str(refused))
    resend.start(account.id)
    return accounts.describe(accounts.get_account(g.organisation, account_id), _base_url())
