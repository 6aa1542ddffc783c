"""The shapes of an optimisation and of a fixing: one definition for the API and the pages.

What can be checked without the database is checked here (field types, ranges, months, the
window inside the delivery period); the account's limits are in `limits`, the fixings' arithmetic
against the recorded ones in `editing`.

Defaults (documented in the README's API section): `tariff_indexes` ["base"], `max_fixings` 4,
`min_share_pct` 10, `window_start` today, `window_end` the day before delivery starts (or the
delivery's last day when it has started), `forecast` the first shared of application, manager,
client, `notify` true, `notify_recipients` the customer when they have access, else the KAM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from shared.markets import CATALOGUE
from shared.optimisations.calendar import RISK_APPETITES
from shared.optimisations.forecasts import KINDS
from shared.schemas import (
    EDITORS,
    FIRST_YEAR,
    LAST_YEAR,
    MONTH_PATTERN,
    Choices,
    Day,
    DecimalText,
    PatchSchema,
    Text,
    UtcDateTime,
    parse_month,
    yes_no,
)

#: The parameters a person sets on an optimisation (besides its market, fixed at creation): what
#: creating and changing one write, and what describing one reads back.
PARAMETERS = (
    "name",
    "delivery_start",
    "delivery_end",
    "volume_mwh",
    "tariff_indexes",
    "max_fixings",
    "min_share_pct",
    "window_start",
    "window_end",
    "risk_appetite",
    "forecast",
    "notify",
    "notify_recipients",
)

TARIFF_INDEXES = ("base", "peak", "offpeak")
RECIPIENTS = ("kam", "customer")
MAX_FIXINGS = 50
MAX_DELIVERY_MONTHS = 120
MAX_VOLUME = Decimal("100000000")
MONTH_DOC = f"{{}} delivery month, YYYY-MM, from {FIRST_YEAR}-01 to {LAST_YEAR}-12."
MARKET_IS_FIXED = "The market of an optimisation cannot change: create a new one."


class Month(fields.Field):
    """A month as YYYY-MM from FIRST_YEAR to LAST_YEAR, loaded as the date of its first day
    (a month of 9999 made the last day of delivery overflow: a 500)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "pattern": MONTH_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> dt.date:
        month = parse_month(value)
        if month is None:
            raise ValidationError(f"Must be a month as YYYY-MM from {FIRST_YEAR}-01 to {LAST_YEAR}-12, e.g. 2027-01.")
        return month

    def _serialize(self, value: dt.date | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.strftime("%Y-%m")


def last_day(month: dt.date) -> dt.date:
    """The last day of `month`'s month."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


class OptimisationSchema(Schema):
    """An optimisation's parameters as a person or a CRM sends them."""

    class Meta:
        unknown = RAISE

    market = fields.String(
        required=True,
        validate=validate.OneOf(sorted(CATALOGUE), error="Unknown market {input!r}: choose one of {choices}."),
    )
    name = Text(max_length=200, required=True)
    delivery_start = Month(
        required=True,
        metadata={"example": "2027-01", "description": MONTH_DOC.format("First")},
    )
    delivery_end = Month(required=True, metadata={"example": "2027-12", "description": MONTH_DOC.format("Last")})
    volume_mwh = DecimalText(
        required=True,
        places=3,
        as_string=True,
        allow_nan=False,
        validate=validate.Range(
            min=Decimal("0.001"), max=MAX_VOLUME, error=f"Must be more than 0 and at most {MAX_VOLUME} MWh."
        ),
        metadata={"minimum": 0.001, "maximum": float(MAX_VOLUME), "description": "MWh (a number or a decimal string)"},
    )
    risk_appetite = fields.String(
        required=True, validate=validate.OneOf(RISK_APPETITES, error="Choose a risk appetite among {choices}.")
    )
    tariff_indexes = Choices(
        fields.String(
            validate=validate.OneOf(TARIFF_INDEXES, error="Unknown tariff index {input!r}: choose among {choices}.")
        ),
        what="tariff index",
        load_default=lambda: ["base"],
        validate=validate.Length(min=1, error="Choose at least one tariff index."),
    )
    max_fixings = fields.Integer(
        strict=True,
        load_default=4,
        validate=validate.Range(min=1, max=MAX_FIXINGS, error=f"Must be a whole number from 1 to {MAX_FIXINGS}."),
        metadata={"description": "How many fixings the contract allows."},
    )
    min_share_pct = fields.Integer(
        strict=True,
        load_default=10,
        validate=validate.Range(min=1, max=100, error="Must be a whole percentage from 1 to 100."),
        metadata={"description": "The minimum share of the volume per fixing, in %."},
    )
    window_start = Day(load_default=None, metadata={"description": "First day fixings may be made (default today)."})
    window_end = Day(
        load_default=None,
        metadata={
            "description": "Last day fixings may be made (default: the day before delivery starts, with access at "
            "the latest the market's end date; at most that end date)."
        },
    )
    forecast = fields.String(
        load_default=None,
        validate=validate.OneOf(KINDS, error="Choose a forecast among {choices}."),
        metadata={"description": "The forecast the advice is based on: one shared with the account."},
    )
    notify = yes_no(load_default=True)
    notify_recipients = Choices(
        fields.String(validate=validate.OneOf(RECIPIENTS, error="Choose recipients among {choices}.")),
        what="recipient",
        load_default=None,
    )

    @validates_schema(skip_on_field_errors=True)
    def check_periods(self, data: dict[str, Any], partial: bool = False, **kwargs: Any) -> None:
        """Raise `whole_problems` as a ValidationError by field. Skipped for a partial load (a
        PATCH is checked once merged over the stored optimisation, knowing what was sent)."""
        if partial:
            return
        errors = whole_problems(data, sent=_given(data))
        if errors:
            raise ValidationError(errors)


class OptimisationChangeSchema(PatchSchema, OptimisationSchema):
    """A PATCH: any of the fields, only those that change; a field left out keeps its stored
    value, it does not go back to its creation default. The market never changes: it is not a
    field of the change (nor of the document's `OptimisationChange`), and sending it is refused
    with MARKET_IS_FIXED, as an account's email is."""

    class Meta:
        unknown = RAISE
        exclude = ("market",)

    @pre_load
    def refuse_market(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and "market" in data:
            raise ValidationError({"market": [MARKET_IS_FIXED]})
        return data


def _given(data: dict[str, Any]) -> set[str]:
    """The fields of a loaded creation that were sent: the windows' defaults are None."""
    return {field for field, value in data.items() if value is not None}


def _blame(errors: dict[str, list[str]], sent: set[str], first: tuple[str, str], second: tuple[str, str]) -> None:
    """Add the error of a rule between two fields to `errors`: on `first` (field, message) unless
    only the `second` was sent. An error must name a field the caller sent when one of the two
    was (a PATCH of window_start was refused on window_end, which the caller had not touched)."""
    field, message = second if second[0] in sent and first[0] not in sent else first
    errors.setdefault(field, []).append(message)


def whole_problems(data: dict[str, Any], sent: set[str]) -> dict[str, list[str]]:
    """The rules across fields of a whole optimisation, by field: the delivery end not before its
    start and the period at most MAX_DELIVERY_MONTHS, recipients when notifications are on, the
    window inside the delivery and not ending before it starts. A rule between two fields names the one of them that was sent (`_blame`)."""
    errors: dict[str, list[str]] = {}
    start, end = data["delivery_start"], data["delivery_end"]
    if end < start:
        _blame(
            errors,
            sent,
            ("delivery_end", "Must be the same month as the delivery start or later."),
            ("delivery_start", "Must be the same month as the delivery end or earlier."),
        )
    elif (end.year - start.year) * 12 + end.month - start.month >= MAX_DELIVERY_MONTHS:
        longest = f"A delivery period is at most {MAX_DELIVERY_MONTHS} months."
        _blame(errors, sent, ("delivery_end", longest), ("delivery_start", longest))
    if data["notify"] and data["notify_recipients"] == []:
        errors["notify_recipients"] = ["Choose who receives the notifications, or switch them off."]
    window_start, window_end = data["window_start"], data["window_end"]
    if window_end is not None and window_end > last_day(end):
        _blame(
            errors,
            sent,
            ("window_end", "The fixing window must end by the last day of delivery."),
            ("delivery_end", f"Must not end before the fixing window does ({window_end.isoformat()})."),
        )
    if window_start is not None and window_end is not None and window_end < window_start:
        _blame(
            errors,
            sent,
            ("window_end", "Must be on or after the window start."),
            ("window_start", f"Must be on or before the window end ({window_end.isoformat()})."),
        )
    return errors


def complete(data: dict, today: dt.date, sent: set[str] | None = None) -> dict:
    """Fill the window defaults that depend on today and the delivery period; refuse a window
    that then ends before it starts, naming the field at fault among those `sent` (by default,
    a creation's: those not None): the window end sent, else the window start sent, else the
    delivery, which has ended before today (a past delivery was once refused on window_end)."""
    sent = _given(data) if sent is None else sent
    data = dict(data)
    if data["window_start"] is None:
        data["window_start"] = today
    if data["window_end"] is None:
        before_delivery = data["delivery_start"] - dt.timedelta(days=1)
        data["window_end"] = (
            before_delivery if before_delivery >= data["window_start"] else last_day(data["delivery_end"])
        )
    start, end = data["window_start"], data["window_end"]
    if end < start:
        if "window_end" in sent:
            raise ValidationError({"window_end": [f"Must be on or after the window start ({start.isoformat()})."]})
        if "window_start" in sent:
            raise ValidationError(
                {"window_start": [f"Must be on or before the last day of delivery ({end.isoformat()})."]}
            )
        raise ValidationError(
            {"delivery_end": [f"The delivery ends before today ({today.isoformat()}): nothing is left to fix."]}
        )
    return data


class FixingSchema(Schema):
    """A fixing being recorded: the day it was made, the price obtained, the share of the volume."""

    class Meta:
        unknown = RAISE

    fixed_on = Day(required=True)
    price = DecimalText(
        required=True,
        places=4,
        as_string=True,
        allow_nan=False,
        validate=validate.Range(
            min=Decimal("0.0001"), max=Decimal("99999"), error="Must be a positive price below 100000."
        ),
        metadata={"minimum": 0.0001, "maximum": 99999},
    )
    share_pct = DecimalText(
        required=True,
        places=2,
        as_string=True,
        allow_nan=False,
        validate=validate.Range(
            min=Decimal("0.01"), max=Decimal("100"), error="Must be a percentage above 0 and at most 100."
        ),
        metadata={"minimum": 0.01, "maximum": 100},
    )


class FixingStatusSchema(Schema):
    """A change of a recorded fixing: only `{"status": "cancelled"}` is accepted."""

    class Meta:
        unknown = RAISE

    status = fields.String(
        required=True,
        validate=validate.OneOf(("cancelled",), error="A recorded fixing can only be cancelled (status 'cancelled')."),
    )


def decimal_string(**kwargs: Any) -> fields.Decimal:
    """A decimal answered as a string (exact), declared so in the OpenAPI document."""
    return fields.Decimal(as_string=True, metadata={"type": "string", "format": "decimal"}, **kwargs)


# --- what is answered ------------------------------------------------------------------------


class FixingViewSchema(Schema):
    """A recorded fixing as the API answers it."""

    id = fields.Integer()
    status = fields.String(validate=validate.OneOf(("fixed", "cancelled")))
    fixed_on = fields.Date()
    price = decimal_string()
    share_pct = decimal_string()
    recorded_by = fields.String()
    recorded_at = UtcDateTime()


class AdviceViewSchema(Schema):
    """One entry of the calendar: an advised date (to_do) or a fixing done (fixed)."""

    date = fields.Date()
    share_pct = decimal_string(places=2)
    volume_mwh = decimal_string(places=3)
    forecast_price = decimal_string(allow_none=True)
    status = fields.String(
        validate=validate.OneOf(("to_do", "fixed")), metadata={"description": "to_do (advised) or fixed"}
    )


class CalendarViewSchema(Schema):
    """The fixing-advice calendar as the API answers it."""

    available = fields.Boolean(metadata={"description": "false before the market's access starts (no advice)"})
    frozen_at = fields.Date(allow_none=True, metadata={"description": "after access ended: the advice as of then"})
    note = fields.String()
    entries = fields.List(fields.Nested(AdviceViewSchema))
    unplaced_pct = decimal_string(places=2)


class OptimisationViewSchema(Schema):
    """An optimisation as the API answers it, with its fixings and its calendar."""

    id = fields.Integer()
    account_id = fields.Integer()
    market = fields.String(validate=validate.OneOf(sorted(CATALOGUE)))
    name = fields.String()
    delivery_start = Month()
    delivery_end = Month()
    volume_mwh = decimal_string()
    tariff_indexes = fields.List(fields.String(validate=validate.OneOf(TARIFF_INDEXES)))
    max_fixings = fields.Integer()
    min_share_pct = fields.Integer()
    window_start = fields.Date()
    window_end = fields.Date()
    risk_appetite = fields.String(validate=validate.OneOf(RISK_APPETITES))
    forecast = fields.String(validate=validate.OneOf(KINDS))
    notify = fields.Boolean()
    notify_recipients = fields.List(fields.String(validate=validate.OneOf(RECIPIENTS)))
    editor = fields.String(validate=validate.OneOf(EDITORS), metadata={"description": "who may change it"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    fixings = fields.List(fields.Nested(FixingViewSchema))
    calendar = fields.Nested(CalendarViewSchema)
    links = fields.Dict(keys=fields.String(), values=fields.String())


class OptimisationListSchema(Schema):
    """The optimisations of an account."""

    items = fields.List(fields.Nested(OptimisationViewSchema))
