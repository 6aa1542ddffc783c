"""The fixing-advice calendar: a pure function of an optimisation's parameters, a forecast curve
and the fixings already recorded. No database, no clock: `today` is an argument, so the same
inputs always give the same advice (and property tests can check it).

Shares are handled in basis points (1 % = 100 bp) so they add up exactly.

The strategies, one per risk appetite (documented in docs/decisions.md as well):
- low: as many tranches as the conditions allow, spread evenly over the remaining window
  (working days), equal shares: the average price, the least regret.
- moderate: half as many tranches (rounded up), spread evenly; each share above the minimum is
  weighted by how cheap the forecast is in the tranche's month (weight = 1 / price).
- high: at most two tranches, placed in the cheapest forecast months of the remaining window
  (ties: the earlier month), on the middle working day of that month's part of the window;
  shares weighted by 1 / price as for moderate.
In every case each advised share is at least the minimum share, the advised and the fixed
shares add up to 100 %, every advised date is a working day inside the window and on or after
`today`, and the fixed plus advised tranches never exceed the number of fixings allowed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

RISK_APPETITES = ("low", "moderate", "high")
FULL = 10_000  # 100 % in basis points


@dataclasses.dataclass(frozen=True)
class Conditions:
    """What the calendar needs of an optimisation: the contractual fixing conditions."""

    window_start: dt.date
    window_end: dt.date
    max_fixings: int
    min_share_pct: int
    risk_appetite: str


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A fixing already made (cancelled ones are not passed in)."""

    fixed_on: dt.date
    share_bp: int
    price: Decimal


@dataclasses.dataclass(frozen=True)
class Advice:
    """One advised fixing: the day, the share of the volume in basis points and the price the
    curve gives for that month."""

    on: dt.date
    share_bp: int
    forecast_price: Decimal | None  # the curve's price for that month, when it has one

    @property
    def share_pct(self) -> Decimal:
        """The share as a percentage (share_bp / 100), exact."""
        return Decimal(self.share_bp) / 100


@dataclasses.dataclass(frozen=True)
class Calendar:
    """The fixings recorded and the advice for what is left of the volume."""

    fixed: tuple[Recorded, ...]
    advice: tuple[Advice, ...]
    unplaced_bp: int  # share that can no longer be placed (window over, or no fixing left)
    note: str  # one sentence a person reads above the calendar

    @property
    def fixed_bp(self) -> int:
        """The share of the volume fixed already, in basis points."""
        return sum(f.share_bp for f in self.fixed)


def working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Monday to Friday from start to end inclusive (bank holidays are not known here)."""
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def month_of(day: dt.date) -> dt.date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def price_for(curve: dict[dt.date, Decimal], day: dt.date) -> Decimal | None:
    """The curve's price for `day`'s month; between or beyond known months, the nearest earlier
    month's (else the nearest later one's)."""
    if not curve:
        return None
    month = month_of(day)
    if month in curve:
        return curve[month]
    earlier = [m for m in curve if m < month]
    return curve[max(earlier)] if earlier else curve[min(curve)]


def _spread(days: list[dt.date], count: int) -> list[dt.date]:
    """`count` distinct days spread evenly over `days` (count <= len(days))."""
    return [days[(2 * i + 1) * len(days) // (2 * count)] for i in range(count)]


def _cheapest_months(days: list[dt.date], curve: dict[dt.date, Decimal], count: int) -> list[dt.date]:
    by_month: dict[dt.date, list[dt.date]] = {}
    for day in days:
        by_month.setdefault(month_of(day), []).append(day)
    months = sorted(by_month, key=lambda m: (price_for(curve, m) or Decimal(0), m))[:count]
    return sorted(by_month[m][len(by_month[m]) // 2] for m in months)


def _shares(total_bp: int, min_bp: int, weights: list[Decimal]) -> list[int]:
    """Each gets the minimum, the rest is shared by weight; rounding goes to the heaviest."""
    spare = total_bp - min_bp * len(weights)
    weight_sum = sum(weights)
    extra = [int(spare * w / weight_sum) for w in weights]
    heaviest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    extra[heaviest] += spare - sum(extra)
    return [min_bp + e for e in extra]


def compute(conditions: Conditions, curve: dict[dt.date, Decimal], fixings: list[Recorded], today: dt.date) -> Calendar:
    """The calendar for these inputs (pure: reads and writes nothing); see the module docstring
    for the strategies. Raises ValueError for a risk appetite outside RISK_APPETITES."""
    if conditions.risk_appetite not in RISK_APPETITES:
        raise ValueError(f"unknown risk appetite {conditions.risk_appetite!r}")
    fixed = tuple(sorted(fixings, key=lambda f: f.fixed_on))
    remaining_bp = FULL - sum(f.share_bp for f in fixed)
    if remaining_bp <= 0:
        return Calendar(fixed, (), 0, "Everything is fixed: 100 % of the volume has a price.")
    min_bp = conditions.min_share_pct * 100
    slots = conditions.max_fixings - len(fixed)
    first_day = max(today, conditions.window_start, *(f.fixed_on + dt.timedelta(days=1) for f in fixed))
    days = working_days(first_day, conditions.window_end)
    most = min(slots, remaining_bp // min_bp if min_bp else slots, len(days))
    if most < 1:
        if not days:
            why = "the fixing window is over"
        elif slots < 1:
            why = "no fixing is left under the contract"
        else:
            why = "what is left is below the minimum share per fixing"
        return Calendar(
            fixed, (), remaining_bp, f"{Decimal(remaining_bp) / 100} % of the volume cannot be advised any more: {why}."
        )
    appetite = conditions.risk_appetite
    if appetite == "low":
        dates = _spread(days, most)
    elif appetite == "moderate":
        dates = _spread(days, (most + 1) // 2)
    else:
        dates = _cheapest_months(days, curve, min(2, most))
    prices = [price_for(curve, day) for day in dates]
    positive = [p for p in prices if p is not None and p > 0]
    if appetite == "low" or len(positive) < len(prices):
        weights = [Decimal(1)] * len(dates)
    else:
        weights = [Decimal(1) / p for p in positive]
    shares = _shares(remaining_bp, min_bp, weights)
    advice = tuple(Advice(day, share, price) for day, share, price in zip(dates, shares, prices, strict=True))
    return Calendar(
        fixed,
        advice,
        0,
        f"{len(advice)} fixing(s) advised for the remaining {Decimal(remaining_bp) / 100} % "
        f"({appetite} risk appetite).",
    )
