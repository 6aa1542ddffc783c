"""The market catalogue: every market kamflow knows, by stable id.

An organisation offers a subset of these; a customer account is given access to a subset of
what its organisation offers. `short_term` says whether the application covers the short term
on that market (the article's note on end dates refers to the markets where it does not).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class Market:
    """A market of the catalogue: what an organisation offers and an account is given access to."""

    id: str
    name: str
    commodity: str  # "power" | "gas"
    country: str  # ISO 3166-1 alpha-2
    short_term: bool


CATALOGUE: dict[str, Market] = {
    m.id: m
    for m in (
        Market("fr-power", "France power", "power", "FR", True),
        Market("fr-gas", "France gas", "gas", "FR", True),
        Market("de-power", "Germany power", "power", "DE", True),
        Market("de-gas", "Germany gas", "gas", "DE", True),
        Market("be-power", "Belgium power", "power", "BE", False),
        Market("be-gas", "Belgium gas", "gas", "BE", False),
        Market("nl-gas", "Netherlands gas (TTF)", "gas", "NL", True),
        Market("es-power", "Spain power", "power", "ES", False),
        Market("it-power", "Italy power", "power", "IT", False),
        Market("gb-power", "Great Britain power", "power", "GB", True),
        Market("gb-gas", "Great Britain gas (NBP)", "gas", "GB", True),
    )
}

#: The shared forecasts, in the article's order (Application, Manager, Client): stored and shown so.
FORECASTS = ("application", "manager", "client")


def in_catalogue_order(markets: Iterable[str]) -> list[str]:
    """The market ids given, once each, in the catalogue's order (the order every page lists
    markets in: the wizard's step 2, the forecast pages); an unknown id is left out."""
    chosen = set(markets)
    return [m for m in CATALOGUE if m in chosen]


def in_article_order(forecasts: Iterable[str]) -> list[str]:
    """The forecast kinds chosen, once each, in the article's order (application, manager,
    client); an unknown kind is kept, after them, so a caller's validation can name it."""
    chosen = set(forecasts)
    return [f for f in FORECASTS if f in chosen] + sorted(chosen - set(FORECASTS))


def as_dict(market: Market) -> dict:
    """The market as plain values (for the API and JSON)."""
    return dataclasses.asdict(market)
