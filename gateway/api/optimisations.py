"""/api/v1/customer-accounts/{id}/optimisations: an account's optimisations (one fixing-advice
calendar each) and their fixings, for the CRM. The token acts for the account's KAM: the editor
rule and the limits of `shared.optimisations.limits` apply to it as to the KAM's pages."""

from __future__ import annotations

import datetime as dt

from flask import current_app, g
from flask_smorest import abort
from marshmallow import ValidationError

from gateway.api.auth import authenticate
from gateway.api.parsing import Blueprint
from shared import accounts, permissions
from shared.models import Fixing
from shared.optimisations import editing, limits, reading
from shared.optimisations.schemas import (
    FixingSchema,
    FixingStatusSchema,
    OptimisationChangeSchema,
    OptimisationListSchema,
    OptimisationSchema,
    OptimisationViewSchema,
)

blp = Blueprint(
    "optimisations",
    __name__,
    url_prefix="/api/v1/customer-accounts",
    description="An account's optimisations: fixing-advice calendars within the account's limits",
)
blp.before_request(authenticate)

_ID = "int(max=9223372036854775807)"
ACCOUNT = f"/<{_ID}:account_id>/optimisations"
ONE = f"{ACCOUNT}/<{_ID}:optimisation_id>"


def _today() -> dt.date:
    return dt.date.today()


def _actor() -> str:
    return f"api-token:{g.api_token.name}"


def _account(account_id: int):
    account = accounts.get_account(g.organisation, account_id)
    if account is None:
        abort(404, message=f"No customer account {account_id} in your organisation.")
    return account


def _optimisation(account_id: int, optimisation_id: int):
    optimisation = reading.one(_account(account_id), optimisation_id)
    if optimisation is None:
        abort(404, message=f"No optimisation {optimisation_id} on customer account {account_id}.")
    return optimisation


def _view(optimisation):
    return reading.describe(
        optimisation, permissions.TOKEN_SIDE, _today(), current_app.config["KAMFLOW"].public_base_url
    )


def _refused(refused: limits.Refused):
    errors = {"json": {refused.field or "_schema": [refused.message]}}
    message = refused.message + (f" Limit: {refused.limit}." if refused.limit else "")
    abort(refused.status, message=message, errors=errors)


def _invalid(error: ValidationError):
    abort(422, message="The optimisation is not valid: see `errors`, by field.", errors={"json": error.messages})


LIMIT_DOC = (
    "The account's limits refuse it (max_optimisations, access window start_date/end_date, or status: only an active "
    "account takes optimisations); the message names the limit"
)
NOT_ACTIVE_DOC = (
    "The account is not active (pending, rejected, failed, or its set-up running again), or the market's access "
    "window is not open (before start_date, after end_date): the message says which"
)


@blp.get(ACCOUNT)
@blp.response(200, OptimisationListSchema)
@blp.alt_response(404, description="No such account in your organisation")
def list_optimisations(account_id: int):
    """The account's optimisations, each with its fixings and its calendar of fixing advice."""
    return {"items": [_view(o) for o in reading.of_account(_account(account_id))]}


@blp.post(ACCOUNT)
@blp.arguments(OptimisationSchema)
@blp.response(
    201,
    OptimisationViewSchema,
    description="Created, with its calendar",
    headers={"Location": {"description": "The optimisation's URL", "schema": {"type": "string", "format": "uri"}}},
)
@blp.alt_response(403, description="The customer is the editor: the KAM (and so the token) only reads")
@blp.alt_response(404, description="No such account in your organisation")
@blp.alt_response(409, description=LIMIT_DOC)
@blp.alt_response(422, description="Invalid body, a market not open to the account, or a forecast not shared")
def create(data, account_id: int):
    """Create an optimisation. Needed: `market`, `name`, `delivery_start` and `delivery_end`
    (YYYY-MM), `volume_mwh`, `risk_appetite` (low|moderate|high). Defaults: `tariff_indexes`
    ["base"], `max_fixings` 4, `min_share_pct` 10, `window_start` today, `window_end` the day
    before delivery starts, `forecast` the first shared (application, manager, client),
    `notify` true, `notify_recipients` ["customer"] with access, else ["kam"]."""
    account = _account(account_id)
    try:
        optimisation = editing.create(account, data, permissions.TOKEN_SIDE, _actor(), _today())
    except limits.Refused as refused:
        _refused(refused)
    except ValidationError as error:
        _invalid(error)
    body = _view(optimisation)
    return body, 201, {"Location": body["links"]["self"]}


@blp.get(ONE)
@blp.response(200, OptimisationViewSchema)
@blp.alt_response(404, description="No such optimisation on this account of your organisation")
def get_one(account_id: int, optimisation_id: int):
    """One optimisation, its fixings and its calendar."""
    return _view(_optimisation(account_id, optimisation_id))


@blp.patch(ONE)
@blp.arguments(OptimisationChangeSchema(partial=True))
@blp.response(200, OptimisationViewSchema)
@blp.alt_response(403, description="The customer is the editor")
@blp.alt_response(404, description="No such optimisation")
@blp.alt_response(409, description=NOT_ACTIVE_DOC)
@blp.alt_response(422, description="Invalid change (the market cannot change; recorded fixings must still fit)")
def change(patch, account_id: int, optimisation_id: int):
    """Change parameters or notification settings: send only what changes. The calendar is
    computed again from the new parameters."""
    optimisation = _optimisation(account_id, optimisation_id)
    try:
        changed = editing.change(
            optimisation, OptimisationSchema().dump(patch), permissions.TOKEN_SIDE, _actor(), _today()
        )
    except limits.Refused as refused:
        _refused(refused)
    except ValidationError as error:
        _invalid(error)
    return _view(changed)


@blp.delete(ONE)
@blp.response(204)
@blp.alt_response(403, description="The customer is the editor")
@blp.alt_response(404, description="No such optimisation")
def delete(account_id: int, optimisation_id: int):
    """Delete an optimisation and its fixings (frees its place under max_optimisations)."""
    optimisation = _optimisation(account_id, optimisation_id)
    try:
        editing.delete(optimisation, permissions.TOKEN_SIDE, _actor())
    except limits.Refused as refused:
        _refused(refused)


@blp.post(f"{ONE}/fixings")
@blp.arguments(FixingSchema)
@blp.response(201, OptimisationViewSchema, description="Recorded; the calendar is adjusted")
@blp.alt_response(403, description="The customer is the editor")
@blp.alt_response(404, description="No such optimisation")
@blp.alt_response(409, description=NOT_ACTIVE_DOC)
@blp.alt_response(422, description="The fixing does not fit the contract (window, minimum share, number of fixings)")
def record_fixing(data, account_id: int, optimisation_id: int):
    """Record a fixing made: `fixed_on`, `price`, `share_pct`. The advice for the rest follows."""
    optimisation = _optimisation(account_id, optimisation_id)
    try:
        editing.record_fixing(optimisation, data, permissions.TOKEN_SIDE, _actor(), _today())
    except limits.Refused as refused:
        _refused(refused)
    except ValidationError as error:
        _invalid(error)
    return _view(reading.one(optimisation.account, optimisation.id))


@blp.patch(f"{ONE}/fixings/<{_ID}:fixing_id>")
@blp.arguments(FixingStatusSchema)
@blp.response(200, OptimisationViewSchema)
@blp.alt_response(403, description="The customer is the editor")
@blp.alt_response(404, description="No such fixing")
@blp.alt_response(409, description=NOT_ACTIVE_DOC)
def update_fixing(data, account_id: int, optimisation_id: int, fixing_id: int):
    """Cancel a recorded fixing (`{"status": "cancelled"}`): its share is advised again."""
    optimisation = _optimisation(account_id, optimisation_id)
    fixing = Fixing.get_or_none((Fixing.id == fixing_id) & (Fixing.optimisation == optimisation.id))
    if fixing is None:
        abort(404, message=f"No fixing {fixing_id} on optimisation {optimisation_id}.")
    try:
        editing.cancel_fixing(optimisation, fixing, permissions.TOKEN_SIDE, _actor(), _today())
    except limits.Refused as refused:
        _refused(refused)
    return _view(reading.one(optimisation.account, optimisation.id))
