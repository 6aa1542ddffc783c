"""Percentiles and rates, the few numbers the report is made of."""

from __future__ import annotations

import math


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: int, seconds: float | None) -> float | None:
    """Events per second; None when the span is unknown or empty."""
    if not seconds or seconds <= 0:
        return None
    return count / seconds


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
