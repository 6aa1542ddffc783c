"""Forecast pages: the manager uploads the company's forecast per market (/forecasts, which a
KAM reads), a customer with the client option uploads their own and sees the forecasts shared
with them (/my-account/forecasts). Parsing and storing are shared.optimisations.forecasts'."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.web.auth import staff_required
from shared import permissions, rules
from shared.markets import CATALOGUE, in_catalogue_order
from shared.models import CustomerAccount, MarketAccess
from shared.optimisations import forecasts, limits

forecast_pages = Blueprint("forecast_pages", __name__)


def _uploaded() -> tuple[str, bytes | None]:
    market = request.form.get("market", "")
    upload = request.files.get("file")
    return market, (upload.read(forecasts.MAX_BYTES + 1) if upload and upload.filename else None)


@forecast_pages.route("/forecasts", methods=["GET", "POST"])
@staff_required
def organisation_forecasts():
    user = current_user.user
    markets = in_catalogue_order(rules.offered_markets(user.organisation_id))
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not permissions.may(user.role, permissions.MANAGER_FORECASTS):
            abort(403, description=permissions.REFUSALS[permissions.MANAGER_FORECASTS])
        market, content = _uploaded()
        if market not in markets:
            errors["market"] = ["Choose one of the markets your organisation offers."]
        if content is None:
            errors["file"] = ["Choose a CSV file to upload."]
        if not errors:
            try:
                upload = forecasts.upload_csv(
                    "manager", market, content, user.email, organisation_id=user.organisation_id
                )
            except forecasts.ForecastRejected as rejected:
                errors["file"] = rejected.errors
            else:
                flash(
                    f"Forecast for {CATALOGUE[market].name} uploaded: {upload.months} months. It is now the manager "
                    f"forecast of this market.",
                    "success",
                )
                return redirect("/forecasts", 303)
        status = 422
    return _organisation_page(user, markets, errors, request.form.get("market", "")), status


def _organisation_page(user, markets: list[str], errors: dict, chosen: str) -> str:
    return render_template(
        "forecasts.html",
        markets=markets,
        errors=errors,
        chosen=chosen,
        history=forecasts.uploads("manager", organisation_id=user.organisation_id),
        application={m: forecasts.latest_upload("application", m) for m in markets},
        may_upload=permissions.may(user.role, permissions.MANAGER_FORECASTS),
    )


@forecast_pages.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge):
    """A file over the request's size limit, refused before the form could be read (the CSRF
    check reads it first): the upload page again with the file's message by its field (413),
    not Werkzeug's bare "data value transmitted exceeds the capacity limit". Nothing is stored."""
    errors = {"file": [forecasts.TOO_LARGE]}
    if current_user.is_authenticated and request.endpoint == "forecast_pages.my_forecasts":
        account = _own_account() if permissions.may(current_user.role, permissions.CUSTOMER_PAGES) else None
        if account is not None:
            return _my_page(account, dt.date.today(), errors, ""), 413
    elif current_user.is_authenticated and permissions.may(current_user.role, permissions.MANAGER_FORECASTS):
        user = current_user.user
        return _organisation_page(
            user, in_catalogue_order(rules.offered_markets(user.organisation_id)), errors, ""
        ), 413
    return render_template("error.html", error=error), 413  # not this page's uploader: the site's error page


def _customer_account() -> CustomerAccount:
    if not permissions.may(current_user.role, permissions.CUSTOMER_PAGES):
        abort(403, description=permissions.REFUSALS[permissions.CUSTOMER_PAGES])
    account = _own_account()
    if account is None:
        abort(404, description="No customer account is linked to your login.")
    return account


def _own_account() -> CustomerAccount | None:
    """The logged-in customer's account with access, or None."""
    account = CustomerAccount.get_or_none(CustomerAccount.user == current_user.user.id)
    return account if account is not None and account.app_access else None


@forecast_pages.route("/my-account/forecasts", methods=["GET", "POST"])
@login_required
def my_forecasts():
    account = _customer_account()
    today = dt.date.today()
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        market, content = _uploaded()
        try:
            limits.may_upload_client_forecast(account, market, today)
        except limits.Refused as refused:
            errors["market"] = [refused.message]
        if content is None:
            errors["file"] = ["Choose a CSV file to upload."]
        if not errors:
            try:
                upload = forecasts.upload_csv("client", market, content, current_user.email, account_id=account.id)
            except forecasts.ForecastRejected as rejected:
                errors["file"] = rejected.errors
            else:
                flash(f"Your forecast for {CATALOGUE[market].name} is uploaded: {upload.months} months.", "success")
                return redirect("/my-account/forecasts", 303)
        status = 422
    return _my_page(account, today, errors, request.form.get("market", "")), status


def _my_page(account: CustomerAccount, today: dt.date, errors: dict, chosen: str) -> str:
    views = []
    activated = {access.market: access for access in account.markets.where(MarketAccess.activated_at.is_null(False))}
    for access in (activated[market] for market in in_catalogue_order(activated)):
        sight = limits.sight(account, access.market, limits.CUSTOMER, today)
        as_of = None if sight.frozen_at is None else dt.datetime.combine(sight.frozen_at, dt.time.max)
        curves = {}
        if sight.forecast:
            for kind in forecasts.shared_kinds(account, access.market):
                upload = forecasts.latest_upload(kind, access.market, as_of=as_of, **forecasts.owner_of(kind, account))
                curves[kind] = forecasts.curve_of(upload)
        months = sorted({m for curve in curves.values() for m in curve})
        views.append(
            {
                "access": access,
                "phase": limits.phase(access, today),
                "curves": curves,
                "months": months,
                "may_upload": "client" in access.forecasts and limits.phase(access, today) == limits.OPEN,
            }
        )
    return render_template(
        "my_forecasts.html",
        account=account,
        views=views,
        errors=errors,
        chosen=chosen,
        history=forecasts.uploads("client", account_id=account.id),
    )
