"""What the optimisation tests share that is not a fixture: a valid optimisation request and a way
to move an account's access window (fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt

from shared import db
from shared.models import MarketAccess


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
