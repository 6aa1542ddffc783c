"""The demo organisation `make run` starts with: a manager, a KAM and an API token, and demo
forecast curves (the application's reference curve on every market, the manager's on French
power and gas), loaded through the same upload function as a person's CSV.

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
from shared.optimisations import forecasts

SLUG = "demo-supplier"
KAM_EMAIL = "kam@demo-supplier.example"
MANAGER_EMAIL = "manager@demo-supplier.example"
TOKEN_NAME = "demo-crm"
# The demo supplier offers all but the British markets (so "not offered" can be seen), and its
# manager has inserted forecasts for French power and gas only.
DEMO_MARKETS = [m for m in CATALOGUE if not m.startswith("gb-")]
MANAGER_FORECAST_MARKETS = ["fr-power", "fr-gas"]


def demo_curve_csv(market: str, *, months: int = 36, premium: Decimal = Decimal(0)) -> str:
    """A plausible monthly curve from this month on: a level per commodity, dearer in winter,
    easing slowly (made up, for trying the calendar out, not market data)."""
    level = Decimal("85") if CATALOGUE[market].commodity == "power" else Decimal("38")
    month = dt.date.today().replace(day=1)
    lines = ["month,price"]
    for index in range(months):
        winter = Decimal("0.18") if month.month in (11, 12, 1, 2) else Decimal("0.05") if month.month in (3, 10) else 0
        price = (level * (1 + winter) - Decimal("0.4") * index + premium).quantize(Decimal("0.01"))
        lines.append(f"{month:%Y-%m},{price}")
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return "\n".join(lines) + "\n"


def seed() -> dict[str, str]:
    with database.atomic():
        organisation = Organisation.get_or_none(Organisation.slug == SLUG)
        if organisation is None:
            organisation = organisations.create_organisation(SLUG, "Demo Supplier", DEMO_MARKETS)
            for market in MANAGER_FORECAST_MARKETS:
                forecasts.upload_csv(
                    "manager",
                    market,
                    demo_curve_csv(market, premium=Decimal("3.00")),
                    MANAGER_EMAIL,
                    organisation_id=organisation.id,
                )
        for market in CATALOGUE:
            if forecasts.latest_upload("application", market) is None:
                forecasts.upload_csv("application", market, demo_curve_csv(market), "demo")
        credentials = {}
        for role, email, first, last in (
            ("kam", KAM_EMAIL, "Kim", "Account"),
            ("manager", MANAGER_EMAIL, "Maud", "Manager"),
        ):
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
