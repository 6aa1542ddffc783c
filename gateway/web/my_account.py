"""The customer's door: after choosing a password, the contact logs in with their email and
sees their own account — the markets their KAM opened, from when to when, with which forecasts
and how many optimisations — and nothing else."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, render_template
from flask_login import current_user

from gateway.web.auth import door_required
from shared import permissions
from shared.models import CustomerAccount, MarketAccess

my_account = Blueprint("my_account", __name__)

customer_required = door_required(permissions.CUSTOMER_PAGES)


@my_account.get("/my-account")
@customer_required
def show():
    account = CustomerAccount.get_or_none(CustomerAccount.user == current_user.user.id)
    if account is None:
        abort(404, description="No customer account is linked to your login.")
    markets = list(account.markets.where(MarketAccess.activated_at.is_null(False)).order_by(MarketAccess.market))
    return render_template("my_account.html", account=account, markets=markets, today=dt.date.today())
