"""The optimisation pages, for both sides of an account: the KAM and the manager under
/customers/<id>/optimisations, the customer under /my-account/optimisations. One set of views:
who is acting decides the account (a staff member's visible one, or the customer's own) and the
side; shared.optimisations decides what that side may do, as it does for the API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask_login import current_user, login_required
from marshmallow import ValidationError

from gateway.page_query import query_value
from gateway.web import account_form
from shared import permissions, visibility
from shared.markets import CATALOGUE
from shared.models import CustomerAccount, Fixing, MarketAccess
from shared.optimisations import editing, limits, reading
from shared.optimisations.calendar import RISK_APPETITES
from shared.optimisations.schemas import (
    RECIPIENTS,
    TARIFF_INDEXES,
    FixingSchema,
    OptimisationSchema,
)

optimisation_pages = Blueprint("optimisation_pages", __name__)

TEXT_FIELDS = (
    "name",
    "market",
    "delivery_start",
    "delivery_end",
    "volume_mwh",
    "max_fixings",
    "min_share_pct",
    "window_start",
    "window_end",
    "forecast",
    "risk_appetite",
)
WHOLE = re.compile(r"^\s*-?\d{1,9}\s*$")


@dataclasses.dataclass
class Door:
    account: CustomerAccount
    side: str
    base: str  # the URL of the account's optimisation list, for this side


def _door(account_id: int | None) -> Door:
    user = current_user.user
    if account_id is None:
        if not permissions.may(user.role, permissions.CUSTOMER_PAGES):
            abort(403, description=permissions.REFUSALS[permissions.CUSTOMER_PAGES])
        account = CustomerAccount.get_or_none(CustomerAccount.user == user.id)
        if account is None or not account.app_access:
            abort(404, description="No customer account is linked to your login.")
        return Door(account, permissions.SIDE_OF[user.role], "/my-account/optimisations")
    if not permissions.may(user.role, permissions.KAM_PAGES):
        abort(403, description=permissions.REFUSALS[permissions.KAM_PAGES])
    account = visibility.visible_account(user, account_id)
    if account is None:
        abort(404, description="There is no such customer account among yours.")
    return Door(account, permissions.SIDE_OF[user.role], f"/customers/{account.id}/optimisations")


def _both(rule: str, **options):
    """Register a view at the staff URL and at the customer's."""

    def register(view):
        guarded = login_required(view)
        optimisation_pages.add_url_rule(
            f"/customers/<int:account_id>/optimisations{rule}",
            view_func=guarded,
            endpoint=f"staff_{view.__name__}",
            **options,
        )
        optimisation_pages.add_url_rule(
            f"/my-account/optimisations{rule}",
            view_func=guarded,
            endpoint=f"customer_{view.__name__}",
            defaults={"account_id": None},
            **options,
        )
        return view

    return register


def _optimisation_or_404(door: Door, optimisation_id: int):
    optimisation = reading.one(door.account, optimisation_id)
    if optimisation is None:
        abort(404, description="There is no such optimisation on this account.")
    return optimisation


def _markets_for(door: Door) -> list[str]:
    """The markets an optimisation may be created on, as the form offers them."""
    if door.account.app_access:
        rows = MarketAccess.select().where(MarketAccess.account == door.account.id).order_by(MarketAccess.market)
        return [row.market for row in rows]
    from shared import rules

    return sorted(rules.offered_markets(door.account.organisation_id))


def form_input(form) -> dict:
    """The form as the schema's input: blanks are 'not given', whole numbers are numbers."""
    data: dict = {}
    for name in TEXT_FIELDS:
        value = form.get(name, "").strip()
        if value == "" and name not in (
            "name",
            "market",
            "delivery_start",
            "delivery_end",
            "volume_mwh",
            "risk_appetite",
        ):
            continue
        data[name] = int(value) if name in ("max_fixings", "min_share_pct") and WHOLE.match(value) else value
    data["tariff_indexes"] = form.getlist("tariff_indexes")
    data["notify"] = form.get("notify") == "yes"
    data["notify_recipients"] = form.getlist("notify_recipients") if data["notify"] else []
    if not data["notify"]:
        data.pop("notify_recipients")
    return data


def _flat(messages: dict) -> dict:
    """marshmallow's errors by field, each field's messages as a flat list (a list field's come
    by index: {"tariff_indexes": {0: [...]}})."""
    return {field: account_form.messages_of(node) for field, node in messages.items()}


def _render_form(door: Door, state: dict, errors: dict, optimisation=None, status: int = 200):
    return render_template(
        "optimisation_form.html",
        door=door,
        account=door.account,
        state=state,
        errors=errors,
        optimisation=optimisation,
        markets=_markets_for(door),
        catalogue=CATALOGUE,
        appetites=RISK_APPETITES,
        tariff_indexes=TARIFF_INDEXES,
        recipients=RECIPIENTS,
        kinds=limits.forecast_kinds,
    ), status


@_both("")
def list_view(account_id):
    door = _door(account_id)
    today = dt.date.today()
    items = [(o, reading.calendar_for(o, door.side, today)) for o in reading.of_account(door.account)]
    markets = list(door.account.markets.order_by(MarketAccess.market)) if door.account.app_access else []
    counts = {m.market: limits.count_on(door.account, m.market) for m in markets}
    phases = {m.market: limits.phase(m, today) for m in markets}
    return render_template(
        "optimisations.html",
        door=door,
        account=door.account,
        items=items,
        markets=markets,
        counts=counts,
        phases=phases,
        may_edit=limits.may_change(door.account, door.side),
        not_active=limits.not_active(door.account),
    )


@_both("/new", methods=["GET", "POST"])
def create_view(account_id):
    door = _door(account_id)
    if request.method == "GET":
        state = {
            "tariff_indexes": ["base"],
            "max_fixings": "4",
            "min_share_pct": "10",
            "notify": "yes",
            "notify_recipients": ["customer"] if door.account.app_access else ["kam"],
            "market": query_value("market"),
        }
        try:
            limits.check_change(door.account, door.side)
        except limits.Refused as refused:
            flash(refused.message, "error")
            return redirect(door.base)
        return _render_form(door, state, {})
    state = request.form.to_dict() | {key: request.form.getlist(key) for key in ("tariff_indexes", "notify_recipients")}
    try:
        data = OptimisationSchema().load(form_input(request.form))
        optimisation = editing.create(door.account, data, door.side, current_user.email, dt.date.today())
    except ValidationError as error:
        return _render_form(door, state, _flat(error.messages), status=422)
    except limits.Refused as refused:
        return _render_form(
            door, state, {refused.field or "_schema": [refused.message]}, status=403 if refused.status == 403 else 422
        )
    flash(f"Optimisation “{optimisation.name}” created: its calendar of fixing advice is below.", "success")
    return redirect(f"{door.base}/{optimisation.id}", 303)


@_both("/<int:optimisation_id>")
def show_view(account_id, optimisation_id):
    door = _door(account_id)
    optimisation = _optimisation_or_404(door, optimisation_id)
    today = dt.date.today()
    return render_template(
        "optimisation.html",
        door=door,
        account=door.account,
        optimisation=optimisation,
        calendar=reading.calendar_for(optimisation, door.side, today),
        fixings=list(optimisation.fixings.order_by(Fixing.fixed_on, Fixing.id)),
        may_edit=limits.may_change_of(optimisation, door.side, today),
        may_delete=limits.may_edit(door.account, door.side),
        errors={},
        fixing_state={},
        today=today,
    )


@_both("/<int:optimisation_id>/edit", methods=["GET", "POST"])
def edit_view(account_id, optimisation_id):
    door = _door(account_id)
    optimisation = _optimisation_or_404(door, optimisation_id)
    if request.method == "GET":
        try:  # the side that only reads is not given a form it cannot save (as on "new")
            limits.check_change_of(optimisation, door.side, dt.date.today())
        except limits.Refused as refused:
            flash(refused.message, "error")
            return redirect(f"{door.base}/{optimisation.id}")
        state = editing.as_input(optimisation)
        state["notify"] = "yes" if optimisation.notify else "no"
        state["seen"] = editing.version(optimisation)
        return _render_form(door, {k: "" if v is None else v for k, v in state.items()}, {}, optimisation)
    state = request.form.to_dict() | {key: request.form.getlist(key) for key in ("tariff_indexes", "notify_recipients")}
    state["market"] = optimisation.market
    # `seen` (the version the form was made from) stays in the state through error pages.
    state["seen"] = request.form.get("seen", "")
    patch = form_input(request.form)
    patch["market"] = optimisation.market
    patch.setdefault("notify_recipients", [])
    try:
        editing.change(optimisation, patch, door.side, current_user.email, dt.date.today(), seen=state["seen"])
    except ValidationError as error:
        return _render_form(door, state, _flat(error.messages), optimisation, 422)
    except limits.Refused as refused:
        stale = isinstance(refused, editing.ChangedMeanwhile)
        if stale:  # shown again with what was typed and the current version
            state["seen"] = refused.current
        return _render_form(
            door,
            state,
            {refused.field or "_schema": [refused.message]},
            optimisation,
            409 if stale else 403 if refused.status == 403 else 422,
        )
    flash("Parameters saved: the calendar is computed again from them.", "success")
    return redirect(f"{door.base}/{optimisation.id}", 303)


@_both("/<int:optimisation_id>/delete", methods=["GET", "POST"])
def delete_view(account_id, optimisation_id):
    """GET asks first (a deletion cannot be undone); POST deletes."""
    door = _door(account_id)
    optimisation = _optimisation_or_404(door, optimisation_id)
    try:
        if request.method == "GET":
            limits.check_edit(door.account, door.side)  # who may delete, asked or not
            fixings = optimisation.fixings.where(Fixing.status == "fixed").count()
            return render_template(
                "optimisation_delete.html", door=door, account=door.account, optimisation=optimisation, fixings=fixings
            )
        editing.delete(optimisation, door.side, current_user.email)
    except limits.Refused as refused:
        abort(refused.status, description=refused.message)
    flash(f"Optimisation “{optimisation.name}” deleted.", "success")
    return redirect(door.base, 303)


@_both("/<int:optimisation_id>/fixings", methods=["POST"])
def record_view(account_id, optimisation_id):
    door = _door(account_id)
    optimisation = _optimisation_or_404(door, optimisation_id)
    state = {name: request.form.get(name, "") for name in ("fixed_on", "price", "share_pct")}
    try:
        limits.check_change_of(optimisation, door.side, dt.date.today())  # who may record, before what they sent
        fixing = FixingSchema().load({k: v.strip() for k, v in state.items()})
        editing.record_fixing(optimisation, fixing, door.side, current_user.email, dt.date.today())
    except ValidationError as error:
        errors = _flat(error.messages)
    except limits.Refused as refused:
        abort(refused.status, description=refused.message)
    else:
        flash("Fixing recorded: the advice for the rest of the volume is adjusted.", "success")
        return redirect(f"{door.base}/{optimisation.id}", 303)
    today = dt.date.today()
    return render_template(
        "optimisation.html",
        door=door,
        account=door.account,
        optimisation=optimisation,
        calendar=reading.calendar_for(optimisation, door.side, today),
        fixings=list(optimisation.fixings.order_by(Fixing.fixed_on, Fixing.id)),
        may_edit=limits.may_change_of(optimisation, door.side, today),
        may_delete=limits.may_edit(door.account, door.side),
        errors={f"fixing-{k}": v for k, v in errors.items()},
        fixing_state=state,
        today=today,
    ), 422


@_both("/<int:optimisation_id>/fixings/<int:fixing_id>/cancel", methods=["POST"])
def cancel_view(account_id, optimisation_id, fixing_id):
    door = _door(account_id)
    optimisation = _optimisation_or_404(door, optimisation_id)
    fixing = Fixing.get_or_none((Fixing.id == fixing_id) & (Fixing.optimisation == optimisation.id))
    if fixing is None:
        abort(404, description="There is no such fixing on this optimisation.")
    try:
        editing.cancel_fixing(optimisation, fixing, door.side, current_user.email, dt.date.today())
    except limits.Refused as refused:
        abort(refused.status, description=refused.message)
    flash("Fixing cancelled: its share is advised again.", "success")
    return redirect(f"{door.base}/{optimisation.id}", 303)
