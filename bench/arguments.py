"""The bench's command-line values: counts and rates that must be above zero, said by name
when they are not (a zero would measure nothing, or wait for ever)."""

from __future__ import annotations

import argparse
import math


def positive(kind, name: str, most: float = math.inf):
    """An argparse type: a number of `kind` above zero and at most `most`, or a message that
    says what was given."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, not {text!r}") from None
        if not 0 < value < math.inf:  # nan and inf too
            raise argparse.ArgumentTypeError(f"{name} must be a finite number above 0, not {text!r}")
        if value > most:
            raise argparse.ArgumentTypeError(f"{name} must be at most {most:g}, not {text!r}")
        return value

    return parse


def stored_sizes(text: str) -> list[int]:
    """`--stored`: comma-separated account counts, each at least 1."""
    count = positive(int, "each count of --stored")
    return [count(part.strip()) for part in text.split(",")]
