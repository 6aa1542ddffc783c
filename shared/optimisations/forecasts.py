"""Forecast curves: uploaded as CSV (one row per delivery month and price), each upload kept with
its date, the newest one in use.

Who loads which kind (the article, "Shared forecasts"):
- `application`: the application's reference curve per market, loaded by an operator
  (`kamflow load-forecast`); `make run` loads a demo curve.
- `manager`: the supplier's own forecasts, uploaded by a manager per market. Their existence is
  what makes the "manager forecast" option available in the wizard and the API.
- `client`: a customer with the client option uploads their own for their market.
An account's users see only the kinds shared with the account for that market.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

import peewee

from shared.db import database
from shared.markets import CATALOGUE
from shared.models import CustomerAccount, ForecastPrice, ForecastUpload, MarketAccess
from shared.schemas import DECIMAL_FORM, FIRST_YEAR, LAST_YEAR, is_decimal_text, parse_month

KINDS = ("application", "manager", "client")
MAX_BYTES = 64 * 1024
TOO_LARGE = f"The file is larger than {MAX_BYTES // 1024} kB."
MAX_ROWS = 240  # twenty years of months
MAX_PRICE = Decimal("100000")
HEADER = ("month", "price")


class ForecastRejected(Exception):
    """The upload is not a valid curve; `errors` lists each problem, by line."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_csv(content: bytes | str) -> dict[dt.date, Decimal]:
    """`month,price` rows (month as YYYY-MM, price in currency per MWh, a dot for decimals; the
    header line is optional). Raises ForecastRejected with every bad line named."""
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise ForecastRejected([TOO_LARGE])
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ForecastRejected(["The file is not UTF-8 text (save it as CSV UTF-8)."]) from None
    elif len(content) > MAX_BYTES:
        raise ForecastRejected([TOO_LARGE])
    errors: list[str] = []
    curve: dict[dt.date, Decimal] = {}
    rows = list(csv.reader(io.StringIO(content.replace("\x00", "\ufffd"))))
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and tuple(c.lower() for c in cells) == HEADER:
            continue
        if len(cells) != 2:
            errors.append(f"Line {number}: expected 2 values (month,price), found {len(cells)}.")
            continue
        month_text, price_text = cells
        month = parse_month(month_text)
        if month is None:
            errors.append(
                f"Line {number}: month {month_text[:20]!r} is not a month as YYYY-MM from {FIRST_YEAR}-01 "
                f"to {LAST_YEAR}-12 (e.g. 2027-01)."
            )
        elif month in curve:
            errors.append(f"Line {number}: month {month_text} appears twice.")
        try:
            if not is_decimal_text(price_text):
                raise InvalidOperation
            price = Decimal(price_text)
            if price <= 0 or price >= MAX_PRICE:
                raise InvalidOperation
            exponent = price.as_tuple().exponent  # an int: the price is finite
            if isinstance(exponent, int) and exponent < -4:
                errors.append(f"Line {number}: price {price_text[:20]!r} has more than 4 decimals.")
                continue
        except InvalidOperation:
            errors.append(
                f"Line {number}: price {price_text[:20]!r} is not a positive number below {MAX_PRICE} ({DECIMAL_FORM})."
            )
            continue
        if month is not None and month not in curve:
            curve[month] = price
    if len(curve) > MAX_ROWS:
        errors.append(f"The file has {len(curve)} months; at most {MAX_ROWS} are accepted.")
    if not curve and not errors:
        errors.append("The file has no forecast rows (expected lines like 2027-01,85.40).")
    if errors:
        raise ForecastRejected(errors[:50] + ([f"... and {len(errors) - 50} more."] if len(errors) > 50 else []))
    return dict(sorted(curve.items()))


def store(
    kind: str,
    market: str,
    curve: dict[dt.date, Decimal],
    uploaded_by: str,
    *,
    organisation_id: int | None = None,
    account_id: int | None = None,
) -> ForecastUpload:
    """Keep one upload and its prices, in one transaction; it becomes the curve in use. Raises
    ValueError for a kind outside KINDS and ForecastRejected for a market outside the catalogue,
    writing nothing."""
    if kind not in KINDS:
        raise ValueError(f"unknown forecast kind {kind!r}")
    if market not in CATALOGUE:
        raise ForecastRejected([f"Unknown market {market!r}."])
    with database.atomic():
        upload = ForecastUpload.create(
            kind=kind,
            market=market,
            organisation=organisation_id,
            account=account_id,
            uploaded_by=uploaded_by,
            months=len(curve),
        )
        ForecastPrice.insert_many(
            [{"upload": upload.id, "month": month, "price": price} for month, price in curve.items()]
        ).execute()
    return upload


def upload_csv(
    kind: str,
    market: str,
    content: bytes | str,
    uploaded_by: str,
    *,
    organisation_id: int | None = None,
    account_id: int | None = None,
) -> ForecastUpload:
    """Parse and store in one step (the CLI, the pages and the demo seed all come through here)."""
    return store(kind, market, parse_csv(content), uploaded_by, organisation_id=organisation_id, account_id=account_id)


def _owned(
    query: peewee.ModelSelect[ForecastUpload], kind: str, organisation_id: int | None, account_id: int | None
) -> peewee.ModelSelect[ForecastUpload]:
    query = query.where(ForecastUpload.kind == kind)
    if kind == "manager":
        return query.where(ForecastUpload.organisation == organisation_id)
    if kind == "client":
        return query.where(ForecastUpload.account == account_id)
    return query


def latest_upload(
    kind: str,
    market: str,
    *,
    organisation_id: int | None = None,
    account_id: int | None = None,
    as_of: dt.datetime | None = None,
) -> ForecastUpload | None:
    """The upload in use (or the one in use at `as_of`)."""
    query = _owned(ForecastUpload.select().where(ForecastUpload.market == market), kind, organisation_id, account_id)
    if as_of is not None:
        query = query.where(ForecastUpload.uploaded_at <= as_of)
    return query.order_by(ForecastUpload.uploaded_at.desc(), ForecastUpload.id.desc()).first()


def curve_of(upload: ForecastUpload | None) -> dict[dt.date, Decimal]:
    """The upload's prices by month (first days), oldest first; {} for no upload."""
    if upload is None:
        return {}
    return {row.month: Decimal(row.price) for row in upload.prices.order_by(ForecastPrice.month)}


def uploads(
    kind: str, *, organisation_id: int | None = None, account_id: int | None = None, market: str | None = None
) -> list[ForecastUpload]:
    """Every upload of one owner, newest first: the history a person sees."""
    query = _owned(ForecastUpload.select(), kind, organisation_id, account_id)
    if market:
        query = query.where(ForecastUpload.market == market)
    return list(query.order_by(ForecastUpload.uploaded_at.desc(), ForecastUpload.id.desc()))


def markets_with_manager_forecasts(organisation_id: int) -> set[str]:
    """Where the manager has uploaded a forecast: where the 'manager' option may be shared."""
    rows = (
        ForecastUpload.select(ForecastUpload.market)
        .where((ForecastUpload.kind == "manager") & (ForecastUpload.organisation == organisation_id))
        .distinct()
    )
    return {row.market for row in rows}


def owner_of(kind: str, account: CustomerAccount) -> dict:
    """The owner keywords of `kind`'s curve as seen from `account`."""
    if kind == "manager":
        return {"organisation_id": account.organisation_id}
    if kind == "client":
        return {"account_id": account.id}
    return {}


def shared_kinds(account: CustomerAccount, market: str) -> list[str]:
    """The kinds of forecast shared with the account for `market` (empty if the market is not
    one of the account's)."""
    access = MarketAccess.get_or_none((MarketAccess.account == account.id) & (MarketAccess.market == market))
    if access is None:
        return []
    return [kind for kind in KINDS if kind in access.forecasts]
