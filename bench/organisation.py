"""The bench's supplier: one organisation, its KAM and the API token the bench's CRM uses."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from shared import organisations
from shared.db import database

SLUG = "bench-supplier"
KAM_EMAIL = "kam@bench-supplier.example"
MARKETS = ["fr-power", "fr-gas", "de-power", "de-gas"]


def seed() -> str:
    """Create the organisation (manager forecasts for French power) and return a new API token."""
    with database.connection_context(), database.atomic():
        organisation = organisations.create_organisation(SLUG, "Bench Supplier", MARKETS)
        organisations.create_staff_user(organisation, KAM_EMAIL, "kam", secrets.token_urlsafe(16))
        month = dt.date.today().replace(day=1)
        organisations.insert_manager_forecasts(organisation, "fr-power", {month: Decimal("91.50")})
        return organisations.create_api_token(organisation, "bench-crm")
