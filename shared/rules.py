"""The article's rules that need the database, checked by the validate_customer stage.

The shape of a request (required fields, formats, dates, forecast combinations) is checked by
`shared.schemas` before anything is stored; what depends on the organisation's data is checked
here, authoritatively, when the account is validated. Each problem names its field, as the
schema's errors do, so the API and the pages show both kinds the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import peewee

from shared import claims
from shared.db import database
from shared.models import CustomerAccount, MarketAccess, OrganisationMarket, User
from shared.optimisations.forecasts import markets_with_manager_forecasts
from shared.schemas import today

Problems = dict[str, list[str]]


def offered_markets(organisation_id: int) -> set[str]:
    """The ids of the markets the organisation offers its customers (empty set if none)."""
    rows = OrganisationMarket.select(OrganisationMarket.market).where(
        OrganisationMarket.organisation == organisation_id
    )
    return {row.market for row in rows}


def login_taken(email: str, account: CustomerAccount) -> bool:
    """Whether another user already logs in with `email` (the account's own login excepted)."""
    query = User.select().where(User.email == email)
    if account.user_id:
        query = query.where(User.id != account.user_id)
    return query.exists()


#: The two rules a market's set-up must meet against the organisation's data: written here
#: once, for the validate stage, the wizard, the edit page, the API's PATCH and the optimisations.
NOT_OFFERED = "Your organisation does not offer this market."
NO_MANAGER_FORECASTS = (
    "The manager forecast is available only where your manager has inserted forecasts for this market."
)


def market_problems(organisation_id: int, markets: Sequence[tuple[str, Collection[str]]]) -> dict[int, Problems]:
    """The market rules each (market id, forecasts) of `markets` breaks, by its index in `markets`,
    as {"market": [NOT_OFFERED], "forecasts": [NO_MANAGER_FORECASTS]}; a market that breaks none
    is absent, so an empty dict means every market is fine."""
    offered = offered_markets(organisation_id)
    with_manager = markets_with_manager_forecasts(organisation_id)
    problems: dict[int, Problems] = {}
    for index, (market, forecasts) in enumerate(markets):
        found: Problems = {}
        if market not in offered:
            found["market"] = [NOT_OFFERED]
        if "manager" in forecasts and market not in with_manager:
            found["forecasts"] = [NO_MANAGER_FORECASTS]
        if found:
            problems[index] = found
    return problems


def account_problems(account: CustomerAccount) -> Problems:
    """Every business rule the account breaks, by field ('setup.markets.fr-power.forecasts')."""
    problems: Problems = {}
    if login_taken(account.email, account):
        problems["customer.email"] = [claims.EMAIL_TAKEN]
    markets = list(account.markets.order_by(MarketAccess.market))
    broken = market_problems(account.organisation_id, [(row.market, row.forecasts) for row in markets])
    for index, row in enumerate(markets):
        field = f"setup.markets.{row.market}"
        for name, messages in broken.get(index, {}).items():
            problems[f"{field}.{name}"] = messages
        if row.end_date < today():
            problems[f"{field}.end_date"] = ["Must not be in the past."]
    return problems


def claim_identity(account: CustomerAccount) -> Problems:
    """Reserve the account's email and customer reference; the unique indexes decide races."""
    problems: Problems = {}
    wanted = (
        # Logins are unique across organisations: the message must not say whose account holds it.
        ("customer.email", {"email_claim": account.email}, claims.EMAIL_TAKEN),
        ("customer.customer_reference", {"reference_claim": account.customer_reference}, claims.REFERENCE_TAKEN),
    )
    for field, values, message in wanted:
        if None in values.values():
            continue
        if all(getattr(account, column) == value for column, value in values.items()):
            continue  # ours already (claimed when the request was accepted): no write, no transaction
        try:
            with database.atomic():
                CustomerAccount.update(**values).where(CustomerAccount.id == account.id).execute()
        except peewee.IntegrityError:
            problems[field] = [message]
    return problems
