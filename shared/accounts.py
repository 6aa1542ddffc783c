"""Customer accounts: create one from a loaded request, start its workflow, describe it.

`create_account` is the one write path for a new account, used by the API and the wizard:
everything (account with its email and reference claims, markets, stage rows, audit,
idempotency record) is written in one transaction, and the first stage is sent only after that
transaction commits. A claim already held refuses the request there and then (`IdentityTaken`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator

import peewee

from shared import account_counts, account_status, claims, db, permissions, workflow
from shared.db import Prepared, param
from shared.markets import in_article_order
from shared.models import AuditEvent, CustomerAccount, MarketAccess, Organisation, StageRun, User


class UnknownKam(Exception):
    """The request names a KAM who is not a KAM or manager of the organisation."""


def find_kam(organisation: Organisation, email: str) -> User:
    """The active KAM or manager of `organisation` whose login is `email` (compared as given:
    logins are stored lower case). Raises UnknownKam(email) for anyone else, including a deactivated user."""
    kam = _KAM.first(organisation_id=organisation.id, email=email)
    if kam is None:
        raise UnknownKam(email)
    return kam


def _kam_query() -> peewee.ModelSelect[User]:
    return (
        User.select()
        .where(
            (User.organisation == param("organisation_id", User.organisation))
            & (User.email == param("email", User.email))
            & (User.role.in_(permissions.ACCOUNT_OWNERS))
            & (User.active == True)  # noqa: E712 (peewee expression)
        )
        .limit(1)
    )


_KAM = Prepared(_kam_query)


@dataclasses.dataclass(frozen=True)
class Checked:
    """What `check_request`'s one statement found: the KAM, whether the customer's email and
    reference were free then, and (PostgreSQL, when they were) the new account's id."""

    kam: User
    claims_free: bool
    account_id: int | None


def check_request(organisation: Organisation, kam_email: str, customer: dict) -> Checked:
    """`find_kam`, and in the same statement whether `claims.find_holders` would find nothing
    for `customer`; on PostgreSQL, when the claims are free, the new account's id is taken from
    its sequence there too (as `db.insert_with` would take it). Raises UnknownKam as find_kam
    does, nothing taken. For `create_account(..., checked=)`.

    A POST's reads were three statements on PostgreSQL (KAM, claims, the id), each a round trip
    waiting for the server's turn; one now. The claims are checked again by their unique indexes
    when the account is written, as they always were."""
    row = _CHECK.first(
        organisation_id=organisation.id,
        email=kam_email,
        customer_email=customer.get("email") or None,
        reference=claims.reference_claim(customer.get("customer_reference")),
    )
    if row is None:
        raise UnknownKam(kam_email)
    account_id = row.reserved_account_id
    return Checked(row, bool(row.claims_free) or account_id is not None, account_id)


def _check_query() -> peewee.SelectBase:
    free = claims.free(
        param("customer_email", CustomerAccount.email_claim),
        param("organisation_id", CustomerAccount.organisation),
        param("reference", CustomerAccount.reference_claim),
    )
    flag: peewee.ColumnBase
    reserved: peewee.ColumnBase
    if isinstance(db.database.obj, peewee.PostgresqlDatabase):
        # CASE evaluates nextval only when the claims are free: a refused request takes no id.
        flag, reserved = peewee.SQL("NULL"), peewee.Case(None, [(free, db.next_id(CustomerAccount))])
    else:
        flag, reserved = free, peewee.SQL("NULL")
    return _kam_query().select_extend(flag.alias("claims_free"), reserved.alias("reserved_account_id"))


_CHECK = Prepared(_check_query)


def create_account(
    organisation: Organisation,
    kam: User,
    request: dict,
    actor: str,
    remember: Callable[[CustomerAccount], peewee.Model | None] | None = None,
    checked: Checked | None = None,
) -> CustomerAccount:
    """Accept a request (a loaded `AccountRequestSchema`): store the account (`store_account`)
    and start its workflow once it is committed. Raises `claims.IdentityTaken` as
    `store_account` does, with nothing written and nothing started."""
    account = store_account(organisation, kam, request, actor, remember, checked)
    start_workflow(account.id)
    return account


def store_account(
    organisation: Organisation,
    kam: User,
    request: dict,
    actor: str,
    remember: Callable[[CustomerAccount], peewee.Model | None] | None = None,
    checked: Checked | None = None,
) -> CustomerAccount:
    """Write a new pending account and its claims, all or nothing, without starting its workflow
    (`create_account` does both).

    Raises `claims.IdentityTaken` when another account or login holds the email or the customer
    reference, before or at the moment of writing: the unique claims decide between concurrent
    requests, and the earlier wins. `remember(account)` may return a row to write with the account
    (the API's idempotency record): it is written with it or not at all. `checked`
    (`check_request` of this request) saves reading the claims when they were free, and gives
    the account's id when it took one."""
    if not (checked and checked.claims_free) and (taken := claims.find_holders(organisation.id, request["customer"])):
        raise taken
    with _refused_if_claimed(organisation.id, request["customer"]):
        return _write_account(organisation, kam, request, actor, remember, checked.account_id if checked else None)


@contextlib.contextmanager
def _refused_if_claimed(organisation_id: int, customer: dict) -> Iterator[None]:
    """An IntegrityError of the writes inside is `claims.IdentityTaken` when a concurrent request
    won the email or the reference (read once the writes are rolled back); anything else stays."""
    try:
        yield
    except peewee.IntegrityError:
        taken = claims.find_holders(organisation_id, customer)
        if taken is None:
            raise
        raise taken from None


def _write_account(
    organisation: Organisation,
    kam: User,
    request: dict,
    actor: str,
    remember: Callable[[CustomerAccount], peewee.Model | None] | None,
    account_id: int | None = None,
) -> CustomerAccount:
    """The account's rows, in one INSERT a table (on PostgreSQL one statement: shared.db.insert_with).
    The account keeps its new stage runs and markets (`account.new_runs`, `account.new_markets`),
    as a read would return them, so that describing it right after needs no read."""
    customer, setup = request["customer"], request["setup"]

    def related(account: CustomerAccount) -> list[peewee.Model]:
        markets = [
            MarketAccess(
                account=account,
                market=market["market"],
                start_date=market["start_date"],
                end_date=market["end_date"],
                forecasts=in_article_order(market["forecasts"]),
                max_optimisations=market["max_optimisations"],
            )
            for market in setup.get("markets") or []
        ]
        runs = [StageRun(account=account, stage=name) for name in workflow.STAGE_NAMES]
        # Market codes are ASCII "cc-commodity": the database's order by market is this one.
        account.new_markets = sorted(markets, key=lambda market: market.market)
        account.new_runs = runs
        audit = AuditEvent(organisation=organisation, account=account, actor=actor, action="account.created")
        record = remember(account) if remember is not None else None
        return [*markets, *runs, audit, *([record] if record is not None else [])]

    account = CustomerAccount(
        **({"id": account_id} if account_id is not None else {}),
        organisation=organisation,
        kam=kam,
        company=customer["company"],
        customer_reference=customer.get("customer_reference"),
        last_name=customer["last_name"],
        first_name=customer["first_name"],
        phone=customer["phone"],
        email=customer["email"],
        is_demo=customer["is_demo"],
        app_access=setup["app_access"],
        editor=setup.get("editor") if setup["app_access"] else None,
        # status: the model's default, `pending`; from there only shared.account_status moves it
        email_claim=customer["email"],
        reference_claim=claims.reference_claim(customer.get("customer_reference")),
    )
    return db.insert_with(account, related)


def start_workflow(account_id: int) -> bool:
    """Send the first stage. If the broker is unreachable the account stays pending and the
    reconciler sends it later: an accepted request is never lost. Returns whether it was sent."""
    return account_status.send_stage(workflow.STAGES[0].name, account_id)


def get_account(organisation: Organisation, account_id: int) -> CustomerAccount | None:
    """The organisation's account with this id, or None, also when the id belongs to another
    organisation (so an id leaks nothing across organisations). Read by its id alone, then
    checked (as `visibility.visible_account`): with the organisation in the query, PostgreSQL
    without statistics on the accounts yet reads every account of the organisation."""
    account = CustomerAccount.get_or_none(CustomerAccount.id == account_id)
    return account if account is not None and account.organisation_id == organisation.id else None


def list_accounts(
    organisation: Organisation,
    *,
    page: int,
    per_page: int,
    status: str | None = None,
    is_demo: bool | None = None,
    kam_email: str | None = None,
    updated_since: dt.datetime | None = None,
) -> tuple[list[CustomerAccount], int]:
    """One page of the organisation's accounts, newest first (by id: a stable order), and the total."""
    query = CustomerAccount.select().where(CustomerAccount.organisation == organisation)
    if status:
        query = query.where(CustomerAccount.status == status)
    if is_demo is not None:
        query = query.where(CustomerAccount.is_demo == is_demo)
    if kam_email:
        # Logins are stored lower case; a filter by an address no KAM has simply finds nothing.
        query = query.join(User, on=(CustomerAccount.kam == User.id)).where(User.email == kam_email.strip().lower())
    if updated_since is not None:
        naive_utc = updated_since.astimezone(dt.UTC).replace(tzinfo=None)
        query = query.where(CustomerAccount.updated_at >= naive_utc)
    if is_demo is None and not kam_email and updated_since is None:  # kept counts; other filters count rows
        total = account_counts.total(organisation.id, status=status or None)
    else:
        total = query.count()
    items = list(query.order_by(CustomerAccount.id.desc()).paginate(page, per_page))
    return items, total


def describe(
    account: CustomerAccount,
    base_url: str = "",
    *,
    runs: list[StageRun] | None = None,
    markets: list[MarketAccess] | None = None,
    kam_email: str | None = None,
) -> dict:
    """The account as the API and the pages show it (plain values). Its stage runs, markets and
    KAM's email are read here unless given (see describe_page) or just written (create_account)."""
    if runs is None:
        runs = account.new_runs
        if runs is None:
            runs = list(account.stage_runs)
    if markets is None:
        markets = account.new_markets
        if markets is None:
            markets = list(account.markets.order_by(MarketAccess.market))
    kam_email = account.kam.email if kam_email is None else kam_email
    return {
        "id": account.id,
        "status": account.status,
        "kam_email": kam_email,
        "customer": {
            "company": account.company,
            "customer_reference": account.customer_reference,
            "last_name": account.last_name,
            "first_name": account.first_name,
            "phone": account.phone,
            "email": account.email,
            "is_demo": account.is_demo,
        },
        "setup": {"app_access": account.app_access, "editor": account.editor},
        "markets": [
            {
                "market": m.market,
                "start_date": m.start_date,
                "end_date": m.end_date,
                "forecasts": m.forecasts,
                "max_optimisations": m.max_optimisations,
                "active": m.activated_at is not None,
            }
            for m in markets
        ],
        "stages": [
            {
                "name": run.stage,
                "state": run.state,
                "attempts": run.attempts,
                "error": run.error,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
            }
            for run in sorted(runs, key=lambda run: workflow.STAGE_NAMES.index(run.stage))
        ],
        "rejection_reasons": account.rejection_reasons,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "links": {"self": f"{base_url}/api/v1/customer-accounts/{account.id}"},
    }


def describe_page(items: list[CustomerAccount], base_url: str = "") -> list[dict]:
    """describe() of every account of a page, with the stage runs, markets and KAMs of the whole
    page read in three queries, not three per account."""
    ids = [account.id for account in items]
    runs: dict[int, list] = {account_id: [] for account_id in ids}
    markets: dict[int, list] = {account_id: [] for account_id in ids}
    for run in StageRun.select().where(StageRun.account.in_(ids)):
        runs[run.account_id].append(run)
    for market in MarketAccess.select().where(MarketAccess.account.in_(ids)).order_by(MarketAccess.market):
        markets[market.account_id].append(market)
    kams = User.select(User.id, User.email).where(User.id.in_({account.kam_id for account in items}))
    emails = {kam.id: kam.email for kam in kams}
    return [
        describe(
            account, base_url, runs=runs[account.id], markets=markets[account.id], kam_email=emails[account.kam_id]
        )
        for account in items
    ]
