"""Fixtures for the operators' door: an operator (and a manager) logged in on /ops, and a fast
liveness window. (No worker registered by an earlier test is seen: `broker` empties the
registry with every kamflow key, so a test of a pure function here starts no Redis.)"""

from __future__ import annotations

import pytest
from browser import Browser
from support import PASSWORD

from shared import db, observability, organisations


@pytest.fixture
def operator(org):
    with db.database.connection_context():
        return organisations.create_staff_user(org["organisation"], "ops@acme-energy.example", "operator", PASSWORD)


@pytest.fixture
def ops(app, operator):
    return Browser(app.test_client()).login(operator.email)


@pytest.fixture
def fast_liveness(monkeypatch):
    """A worker counts as silent after 2 s without a heartbeat (15 s in production)."""
    monkeypatch.setattr(observability, "ALIVE_WITHIN_MS", 2000)
