"""The demo organisation `make run` starts with: a manager, a KAM and an API token.

Run again, it keeps the data but gives the demo people new passwords and the demo CRM a new
token (revoking the old), since only hashes are stored and the run must print usable ones.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from shared import organisations
from shared.db import database
from shared.markets import CATALOGUE
from shared.models import Organisation, User

SLUG = "demo-supplier"
KAM_EMAIL = "kam@demo-supplier.example"
MANAGER_EMAIL = "manager@demo-supplier.example"
TOKEN_NAME = "demo-crm"
# The demo supplier offers all but the British markets (so "not offered" can be seen), and its
# manager has inserted forecasts for French power and gas only.
DEMO_MARKETS = [m for m in CATALOGUE if not m.startswith("gb-")]
MANAGER_FORECAST_MARKETS = ["fr-power", "fr-gas"]


def seed() -> dict[str, str]:
    with database.atomic():
        organisation = Organisation.get_or_none(Organisation.slug == SLUG)
        if organisation is None:
            organisation = organisations.create_organisation(SLUG, "Demo Supplier", DEMO_MARKETS)
            first_month = dt.date.today().replace(day=1)
            for market in MANAGER_FORECAST_MARKETS:
                prices = {
                    (first_month + dt.timedelta(days=31 * i)).replace(day=1): Decimal("80.00") + i
                    for i in range(12)
                }
                organisations.insert_manager_forecasts(organisation, market, prices)
        credentials = {}
        for role, email, first, last in (("kam", KAM_EMAIL, "Kim", "Account"), ("manager", MANAGER_EMAIL, "Maud", "Manager")):
            password = secrets.token_urlsafe(12)
            user = User.get_or_none(User.email == email)
            if user is None:
                organisations.create_staff_user(organisation, email, role, password, first, last)
            else:
                organisations.set_staff_password(user, password)
            credentials[role] = (email, password)
        organisations.revoke_api_tokens(organisation, TOKEN_NAME)
        token = organisations.create_api_token(organisation, TOKEN_NAME)
    return {"kam": credentials["kam"], "manager": credentials["manager"], "token": token}
