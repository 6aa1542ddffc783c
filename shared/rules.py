"""The article's rules that need the database, checked by the validate_customer stage.

The shape of a request (required fields, formats, dates, forecast combinations) is checked by
`shared.schemas` before anything is stored; what depends on the organisation's data is checked
here, authoritatively, when the account is validated. Each problem names its field, as the
schema's errors do, so the API and the pages show both kinds the same way.
"""

from __future__ import annotations

import peewee

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


def account_problems(account: CustomerAccount) -> Problems:
    """Every business rule the account breaks, by field ('setup.markets.fr-power.forecasts')."""
    problems: Problems = {}
    if login_taken(account.email, account):
        problems["customer.email"] = ["This email is already used as a login; it must be unique."]
    offered = offered_markets(account.organisation_id)
    with_manager = markets_with_manager_forecasts(account.organisation_id)
    for market in account.markets.order_by(MarketAccess.market):
        field = f"setup.markets.{market.market}"
        if market.market not in offered:
            problems.setdefault(f"{field}.market", []).append("Your organisation does not offer this market.")
        if "manager" in market.forecasts and market.market not in with_manager:
            problems.setdefault(f"{field}.forecasts", []).append(
                "The manager forecast is available only where your manager has inserted forecasts for this market."
            )
        if market.end_date < today():
            problems.setdefault(f"{field}.end_date", []).append("Must not be in the past.")
    return problems


def claim_identity(account: CustomerAccount) -> Problems:
    """Reserve the account's email and customer reference; the unique indexes decide races."""
    problems: Problems = {}
    claims = (
        # Logins are unique across organisations: the message must not say whose account holds it.
        ("customer.email", {"email_claim": account.email}, "This email is already used as a login; it must be unique."),
        (
            "customer.customer_reference",
            {"reference_claim": account.customer_reference},
            "This customer reference is already used in your organisation.",
        ),
    )
    for field, values, message in claims:
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
