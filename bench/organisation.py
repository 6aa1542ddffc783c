"""The bench's supplier: one organisation, its KAM and the API token the bench's CRM uses."""

from __future__ import annotations

import datetime as dt
import secrets

from shared import organisations
from shared.db import database
from shared.optimisations import forecasts

SLUG = "bench-supplier"
KAM_EMAIL = "kam@bench-supplier.example"
MARKETS = ["fr-power", "fr-gas", "de-power", "de-gas"]


def seed() -> tuple[str, str]:
    """Create the organisation (manager forecasts for French power); return a new API token and
    the KAM's password (the bench logs in to time the Customers page)."""
    password = secrets.token_urlsafe(24)
    with database.connection_context(), database.atomic():
        organisation = organisations.create_organisation(SLUG, "Bench Supplier", MARKETS)
        organisations.create_staff_user(organisation, KAM_EMAIL, "kam", password)
        month = dt.date.today().strftime("%Y-%m")
        forecasts.upload_csv(
            "manager", "fr-power", f"month,price\n{month},91.50\n", "bench", organisation_id=organisation.id
        )
        return organisations.create_api_token(organisation, "bench-crm"), password
