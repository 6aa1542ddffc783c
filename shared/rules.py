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
from shared.db import Prepared, database, param
from shared.models import CustomerAccount, ForecastUpload, MarketAccess, OrganisationMarket, User
from shared.optimisations.forecasts import markets_with_manager_forecasts
from shared.schemas import PAST_END_DATE, today

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
        found = _market_rules(forecasts, market in offered, market in with_manager)
        if found:
            problems[index] = found
    return problems


def _market_rules(forecasts: Collection[str], offered: bool, with_manager: bool) -> Problems:
    """The market rules one market's set-up breaks, given whether the organisation offers the
    market and whether its manager has uploaded forecasts for it."""
    found: Problems = {}
    if not offered:
        found["market"] = [NOT_OFFERED]
    if "manager" in forecasts and not with_manager:
        found["forecasts"] = [NO_MANAGER_FORECASTS]
    return found


def _account_facts_query(own_login: bool) -> peewee.SelectBase:
    """What `account_problems` checks, in one statement: a first row (market NULL) telling
    whether another login has the email, then per market of the account (in market order) its
    end date, its forecasts, whether the organisation offers it and whether the manager has
    uploaded forecasts for it. `own_login`: the account's login (param "user_id") is excepted."""
    market = MarketAccess.market
    organisation = param("organisation_id", OrganisationMarket.organisation)
    offered = OrganisationMarket.select(peewee.SQL("1")).where(
        (OrganisationMarket.organisation == organisation) & (OrganisationMarket.market == market)
    )
    with_manager = ForecastUpload.select(peewee.SQL("1")).where(
        (ForecastUpload.kind == "manager")
        & (ForecastUpload.organisation == organisation)
        & (ForecastUpload.market == market)
    )
    logins = User.select(peewee.SQL("1")).where(User.email == param("email", User.email))
    if own_login:
        logins = logins.where(User.id != param("user_id", User.id))
    no = peewee.SQL("NULL")
    # A SELECT without a table, so the email's row is there for an account without markets;
    # bound to the database (a model's query is) for the dialect's SQL.
    login_row = peewee.Select(columns=[no, no, no, peewee.fn.EXISTS(logins), no]).bind(database)
    markets = MarketAccess.select(
        market, MarketAccess.end_date, MarketAccess.forecasts, peewee.fn.EXISTS(offered), peewee.fn.EXISTS(with_manager)
    ).where(MarketAccess.account == param("account_id", MarketAccess.account))
    # By position: the markets sort as `ORDER BY market` sorts them; the email's row (NULL) sorts
    # first on SQLite, last on PostgreSQL, and is told apart by its NULL market.
    return login_row.union_all(markets).order_by(peewee.SQL("1")).tuples()


#: By whether the account has a login of its own.
_ACCOUNT_FACTS = {
    False: Prepared(lambda: _account_facts_query(own_login=False)),
    True: Prepared(lambda: _account_facts_query(own_login=True)),
}


def account_problems(account: CustomerAccount) -> Problems:
    """Every business rule the account breaks, by field ('setup.markets.fr-power.forecasts').

    The validate stage's check of every account: the facts the rules need are read in one
    statement, its SQL generated once, where reading them one query each (as `login_taken` and
    `market_problems` do for the pages) took four and most of the stage's time."""
    rows = _ACCOUNT_FACTS[bool(account.user_id)].rows(
        email=account.email, user_id=account.user_id, organisation_id=account.organisation_id, account_id=account.id
    )
    problems: Problems = {}
    if any(row[0] is None and row[3] for row in rows):
        problems["customer.email"] = [claims.EMAIL_TAKEN]
    end_date, forecasts = MarketAccess.end_date.python_value, MarketAccess.forecasts.python_value
    for market, ends, chosen, offered, with_manager in rows:
        if market is None:
            continue
        field = f"setup.markets.{market}"
        for name, messages in _market_rules(forecasts(chosen), bool(offered), bool(with_manager)).items():
            problems[f"{field}.{name}"] = messages
        if end_date(ends) < today():
            problems[f"{field}.end_date"] = [PAST_END_DATE]
    return problems


def claim_identity(account: CustomerAccount) -> Problems:
    """Reserve the account's email and customer reference; the unique indexes decide races."""
    problems: Problems = {}
    wanted = (
        # Logins are unique across organisations: the message must not say whose account holds it.
        ("customer.email", {"email_claim": account.email}, claims.EMAIL_TAKEN),
        (
            "customer.customer_reference",
            {"reference_claim": claims.reference_claim(account.customer_reference)},
            claims.REFERENCE_TAKEN,
        ),
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
