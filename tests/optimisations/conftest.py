"""Fixtures for optimisations: active accounts made through the real workflow, and another
organisation (the logged-in KAM and manager are tests/conftest.py's)."""

from __future__ import annotations

import pytest
from support import Api, account_request

from shared import db, organisations


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
