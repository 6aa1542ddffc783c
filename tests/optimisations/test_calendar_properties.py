"""The fixing-advice calendar, a pure function, checked for every input hypothesis can think of:
shares add up to 100 %, each advised share respects the minimum, every date is a working day in
the window and not before today, never more fixings than allowed, recorded fixings honoured."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.optimisations import calendar

START = dt.date(2026, 1, 1)


@st.composite
def situations(draw):
    window_start = START + dt.timedelta(days=draw(st.integers(0, 400)))
    window_end = window_start + dt.timedelta(days=draw(st.integers(0, 500)))
    max_fixings = draw(st.integers(1, 12))
    min_share = draw(st.integers(1, 100))
    appetite = draw(st.sampled_from(calendar.RISK_APPETITES))
    months = sorted(
        {(window_start + dt.timedelta(days=31 * i)).replace(day=1) for i in range(draw(st.integers(0, 20)))}
    )
    curve = {m: Decimal(draw(st.integers(1, 50_000))) / 100 for m in months}
    # Recorded fixings made the way the editing rules allow: each at least the minimum, leaving
    # nothing or at least the minimum, the last one allowed completing the volume.
    fixings, remaining, day = [], calendar.FULL, window_start
    for _ in range(draw(st.integers(0, max_fixings))):
        min_bp = min_share * 100
        if remaining < min_bp or day > window_end:
            break
        options = [remaining] + [s for s in range(min_bp, remaining - min_bp + 1, 50)]
        if len(fixings) + 1 == max_fixings:
            options = [remaining]
        share = draw(st.sampled_from(options))
        fixings.append(calendar.Recorded(day, share, Decimal("80")))
        remaining -= share
        day += dt.timedelta(days=draw(st.integers(1, 40)))
        if remaining == 0:
            break
    today = window_start + dt.timedelta(days=draw(st.integers(-30, 600)))
    conditions = calendar.Conditions(window_start, window_end, max_fixings, min_share, appetite)
    return conditions, curve, fixings, today


@settings(max_examples=400, deadline=None, derandomize=True)
@given(situations())
def test_the_calendar_keeps_every_promise(situation):
    conditions, curve, fixings, today = situation
    result = calendar.compute(conditions, curve, fixings, today)
    # recorded fixings are honoured: all there, unchanged
    assert sorted(result.fixed, key=lambda f: f.fixed_on) == sorted(fixings, key=lambda f: f.fixed_on)
    advised = sum(a.share_bp for a in result.advice)
    # the fixed, the advised and what can no longer be placed make exactly 100 %
    assert result.fixed_bp + advised + result.unplaced_bp == calendar.FULL
    for advice in result.advice:
        assert advice.share_bp >= conditions.min_share_pct * 100
        assert conditions.window_start <= advice.on <= conditions.window_end
        assert advice.on >= today and advice.on.weekday() < 5
        assert all(advice.on > f.fixed_on for f in fixings)
    assert len(result.fixed) + len(result.advice) <= conditions.max_fixings
    assert len({a.on for a in result.advice}) == len(result.advice)
    # something is left unplaced only when no working day, fixing or minimum share allows it
    last = max([f.fixed_on for f in fixings], default=None)
    first_day = max(today, conditions.window_start, last + dt.timedelta(days=1) if last else today)
    days_left = calendar.working_days(first_day, conditions.window_end)
    remaining = calendar.FULL - result.fixed_bp
    if days_left and len(fixings) < conditions.max_fixings and remaining >= conditions.min_share_pct * 100:
        assert result.unplaced_bp == 0 and advised == remaining


@settings(max_examples=100, deadline=None, derandomize=True)
@given(situations())
def test_same_inputs_same_calendar(situation):
    assert calendar.compute(*situation) == calendar.compute(*situation)


def _plain(appetite, curve=None, max_fixings=6, min_share=10):
    conditions = calendar.Conditions(dt.date(2027, 1, 4), dt.date(2027, 6, 30), max_fixings, min_share, appetite)
    return calendar.compute(conditions, curve or {}, [], dt.date(2027, 1, 4))


def test_low_appetite_spreads_equal_shares_over_the_window():
    result = _plain("low")
    shares = [a.share_bp for a in result.advice]
    assert sum(shares) == 10_000 and max(shares) - min(shares) < 10  # equal, to rounding
    assert len(result.advice) == 6
    months = {a.on.month for a in result.advice}
    assert months == {1, 2, 3, 4, 5, 6}  # one tranche a month over a six-month window


def test_high_appetite_waits_for_the_cheapest_months():
    curve = {dt.date(2027, m, 1): Decimal(p) for m, p in ((1, 90), (2, 88), (3, 70), (4, 72), (5, 95), (6, 99))}
    result = _plain("high", curve)
    assert [a.on.month for a in result.advice] == [3, 4]
    cheaper, dearer = result.advice
    assert cheaper.share_bp > dearer.share_bp  # more volume where the forecast is lower


def test_moderate_appetite_uses_half_the_fixings_weighted_to_cheaper_months():
    curve = {dt.date(2027, m, 1): Decimal(100 - 10 * m) for m in range(1, 7)}  # falling prices
    result = _plain("moderate", curve)
    assert len(result.advice) == 3
    shares = [a.share_bp for a in result.advice]
    assert shares == sorted(shares) and shares[0] < shares[-1]


def test_a_window_that_is_over_leaves_the_rest_unplaced_and_says_so():
    conditions = calendar.Conditions(dt.date(2027, 1, 4), dt.date(2027, 2, 26), 4, 20, "low")
    result = calendar.compute(
        conditions, {}, [calendar.Recorded(dt.date(2027, 1, 5), 4000, Decimal(80))], dt.date(2027, 3, 1)
    )
    assert result.advice == () and result.unplaced_bp == 6000
    assert "window is over" in result.note
