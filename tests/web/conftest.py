"""Fixtures for the KAM pages: logged-in browsers (test clients) for a KAM, another KAM and
their manager, on the organisation of tests/conftest.py's `org`."""

from __future__ import annotations

import pytest

from shared import db, organisations
from web.kam_browser import PASSWORD, Browser


@pytest.fixture
def browser(app):
    """Not logged in."""
    return Browser(app.test_client())


@pytest.fixture
def kam_page(app, org):
    return Browser(app.test_client()).login(org["kam"].email)


@pytest.fixture
def manager_page(app, org):
    return Browser(app.test_client()).login(org["manager"].email)


@pytest.fixture
def other_kam(org):
    with db.database.connection_context():
        return organisations.create_staff_user(org["organisation"], "kam2@acme-energy.example", "kam", PASSWORD)


@pytest.fixture
def other_kam_page(app, other_kam):
    return Browser(app.test_client()).login(other_kam.email)
