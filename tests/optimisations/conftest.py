"""Fixtures for optimisations: active accounts made through the real workflow, another
organisation, and a way to move an account's access window."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import Api, account_request
from web.conftest import kam_page, manager_page  # noqa: F401  the logged-in KAM and manager, shared

from shared import db, organisations
from shared.models import MarketAccess


@pytest.fixture
def make_account(api, worker):
    """Create an account through the API and wait until the workflow made it active."""

    def make(**changes) -> int:
        created = api.create(account_request(**changes))
        assert created.status_code == 202, created.get_json()
        body = api.wait_for_status(created.get_json()["id"])
        assert body["status"] == "active", body
        return body["id"]

    return make


@pytest.fixture
def other_org_api(client, org):
    """Another supplier's CRM: must never see the first one's optimisations."""
    with db.database.connection_context():
        other = organisations.create_organisation("rival-power", "Rival Power", ["fr-power"])
        organisations.create_staff_user(other, "kam@rival-power.example", "kam", "correct-horse-battery")
        token = organisations.create_api_token(other, "rival-crm")
    return Api(client, token)


def move_window(account_id: int, market: str, start_days: int, end_days: int) -> None:
    """Set a market's access window relative to today (what the KAM could set, or time passing)."""
    today = dt.date.today()
    with db.database.connection_context():
        MarketAccess.update(
            start_date=today + dt.timedelta(days=start_days), end_date=today + dt.timedelta(days=end_days)
        ).where((MarketAccess.account == account_id) & (MarketAccess.market == market)).execute()


def optimisation_body(**changes) -> dict:
    today = dt.date.today()
    start = (today.replace(day=1) + dt.timedelta(days=200)).replace(day=1)
    body = {
        "market": "fr-power",
        "name": "Foundry 2027",
        "delivery_start": f"{start:%Y-%m}",
        "delivery_end": f"{start.replace(year=start.year + 1) - dt.timedelta(days=1):%Y-%m}",
        "volume_mwh": "1200",
        "risk_appetite": "moderate",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()
