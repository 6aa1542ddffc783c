"""What a person sees of optimisations: the list of an account's, one with its fixings, and its
calendar as the limits allow (no advice before the access window, frozen after it)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shared.models import CustomerAccount, Fixing, Optimisation
from shared.optimisations import calendar, forecasts, limits
from shared.optimisations.schemas import PARAMETERS


def of_account(account: CustomerAccount) -> list[Optimisation]:
    """The account's optimisations, by market then creation."""
    return list(account.optimisations.order_by(Optimisation.market, Optimisation.created_at, Optimisation.id))


def one(account: CustomerAccount, optimisation_id: int) -> Optimisation | None:
    """The account's optimisation with this id, or None (also when it belongs to another account)."""
    return Optimisation.get_or_none((Optimisation.id == optimisation_id) & (Optimisation.account == account.id))


def conditions(optimisation: Optimisation) -> calendar.Conditions:
    """The optimisation's parameters that the calendar works from."""
    return calendar.Conditions(
        optimisation.window_start,
        optimisation.window_end,
        optimisation.max_fixings,
        optimisation.min_share_pct,
        optimisation.risk_appetite,
    )


def recorded(optimisation: Optimisation, *, until: dt.date | None = None) -> list[calendar.Recorded]:
    """The optimisation's fixings still in force (not cancelled), fixed on or before `until` when
    given, as the calendar takes them (share in basis points)."""
    query = optimisation.fixings.where(Fixing.status == "fixed")
    if until is not None:
        query = query.where(Fixing.fixed_on <= until)
    return [calendar.Recorded(f.fixed_on, int(Decimal(f.share_pct) * 100), Decimal(f.price)) for f in query]


def curve(optimisation: Optimisation, *, as_of: dt.date | None = None) -> dict:
    """The forecast curve the optimisation follows (its chosen kind, for its market and owner), as
    uploaded by the end of `as_of` when given, else the newest; {} when there is none."""
    account = optimisation.account
    moment = None if as_of is None else dt.datetime.combine(as_of, dt.time.max)
    upload = forecasts.latest_upload(
        optimisation.forecast, optimisation.market, as_of=moment, **forecasts.owner_of(optimisation.forecast, account)
    )
    return forecasts.curve_of(upload)


def calendar_for(optimisation: Optimisation, side: str, today: dt.date) -> dict:
    """The calendar as `side` may see it today, ready to show: entries (fixed and advised), a note,
    whether advice is shown at all, and since when it is frozen."""
    sight = limits.sight(optimisation.account, optimisation.market, side, today)
    if not sight.forecast:
        return {
            "available": False,
            "frozen_at": None,
            "entries": [],
            "unplaced_pct": Decimal(0),
            "note": "Your access to this market has not started yet: the forecast and the fixing advice appear "
            "from the start date.",
        }
    moment = sight.frozen_at or today
    prices = curve(optimisation, as_of=sight.frozen_at)
    result = calendar.compute(conditions(optimisation), prices, recorded(optimisation, until=sight.frozen_at), moment)
    volume = Decimal(optimisation.volume_mwh)
    entries = [
        {
            "date": f.fixed_on,
            "share_pct": Decimal(f.share_bp) / 100,
            "status": "fixed",
            "volume_mwh": (volume * f.share_bp / calendar.FULL).quantize(Decimal("0.001")),
            "forecast_price": None,
        }
        for f in result.fixed
    ]
    entries += [
        {
            "date": a.on,
            "share_pct": a.share_pct,
            "status": "to_do",
            "forecast_price": a.forecast_price,
            "volume_mwh": (volume * a.share_bp / calendar.FULL).quantize(Decimal("0.001")),
        }
        for a in result.advice
    ]
    note = result.note
    if not prices and result.advice:
        note += (
            f" No {optimisation.forecast} forecast is loaded for this market yet: the advice is spread without prices."
        )
    if sight.frozen_at:
        note = (
            f"Your access to this market ended on {sight.frozen_at.isoformat()}: this is the advice as of then. " + note
        )
    return {
        "available": True,
        "frozen_at": sight.frozen_at,
        "entries": entries,
        "note": note,
        "unplaced_pct": Decimal(result.unplaced_bp) / 100,
    }


def describe(optimisation: Optimisation, side: str, today: dt.date, base_url: str = "") -> dict:
    """The optimisation as the API answers it (and the pages show it)."""
    account = optimisation.account
    fields = {name: getattr(optimisation, name) for name in ("id", "market", *PARAMETERS, "created_at", "updated_at")}
    return {
        **fields,
        "account_id": account.id,
        "editor": limits.editor(account),
        "fixings": list(optimisation.fixings.order_by(Fixing.fixed_on, Fixing.id)),
        "calendar": calendar_for(optimisation, side, today),
        "links": {"self": f"{base_url}/api/v1/customer-accounts/{account.id}/optimisations/{optimisation.id}"},
    }
