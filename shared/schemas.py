"""The shapes of kamflow, as marshmallow schemas: one definition of every rule of the article
that can be checked without the database.

The CRM API loads request bodies with `AccountRequestSchema`; the KAM wizard turns its form
into the same shape and loads it with the same schema, so a rule exists once. Rules that need
the database (offered markets, manager forecasts, a login already taken) are in `shared.rules`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import email_validator
import phonenumbers
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing, validate, validates_schema
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from shared import egress, workflow
from shared.markets import CATALOGUE, FORECASTS

EDITORS = ("kam", "customer")
#: The years a date or a month sent to kamflow may fall in. Python's dates end at 9999 and begin
#: at 1: arithmetic near either end overflows (an OverflowError was a 500 on a delivery month of
#: 9999). No access window, delivery or fixing falls outside these years; the error message says
#: them. (`updated_since`, a filter, takes any moment: see `Since`.)
FIRST_YEAR, LAST_YEAR = 2000, 2099
#: FIRST_YEAR to LAST_YEAR as the OpenAPI document's patterns say them (for months and days).
YEARS_PATTERN = "20[0-9]{2}"
#: A month as YYYY-MM (`parse_month`), and a day as YYYY-MM-DD (`Day`), in those years.
MONTH_PATTERN = f"^{YEARS_PATTERN}-(0[1-9]|1[0-2])$"
DAY_PATTERN = f"^{YEARS_PATTERN}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MAX_PAGE = 1_000_000
MAX_OPTIMISATIONS_CEILING = 1000


def today() -> dt.date:
    """Today's date (the server's): what 'in the past' is checked against."""
    return dt.date.today()


#: Control (Cc), format (Cf: zero-width, bidi overrides, soft hyphen, BOM), line and paragraph
#: separators (Zl, Zp: U+2028, U+2029), surrogates and private use: none belongs in a name, a
#: reference or a company, and they break what the text goes into — an email's headers and
#: lines (the credentials email failed on U+2028), a CSV, a log line, a page's reading order.
#: Save the joiners (`JOINERS`) where a name's spelling needs them.
REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}
#: Every character of REFUSED_CATEGORIES (Unicode 14.0), as ranges of code points: the one list
#: that both the check (`first_refused_character`) and the OpenAPI document's patterns
#: (PRINTABLE_PATTERN) are made of, so that a client holding a name to the document is never
#: refused for it, nor the reverse (the patterns said only Cc, and U+200B was a 422 the document
#: allowed). A test holds it to the categories of the running Python's Unicode database.
REFUSED_RANGES = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xD800, 0xDFFF),  # SURROGATES
    (0xE000, 0xF8FF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
)
#: Lone surrogates: left out of the document's patterns, which must be UTF-8 text for other regular
#: expression engines than Python's (schemathesis' Rust one could not read them). No UTF-8 text holds
#: one; a JSON string escaping one ("\ud800") is refused by the server all the same.
SURROGATES = (0xD800, 0xDFFF)
#: The spaces `str.strip()` removes that are not refused anyway: a value of these alone is blank.
SPACES = " \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"

#: Zero-width non-joiner and joiner (U+200C, U+200D): format characters (Cf), but part of how
#: names are spelt in Persian, Kurdish and the Indic scripts (Persian `\u0645\u06cc\u200c\u0631`,
#: Devanagari `\u0915\u094d\u200d\u0937`). Allowed between two letters (a letter's combining
#: marks, such as a virama, count with it); anywhere else (at an end, beside a space, a digit or
#: another invisible character) they only hide something, and are refused as the rest of Cf is.
JOINERS = frozenset("\u200c\u200d")


def _characters(ranges: tuple[tuple[int, int], ...]) -> str:
    """`ranges` as the inside of a regular expression's character class (the characters themselves)."""
    return "".join(chr(first) if first == last else f"{chr(first)}-{chr(last)}" for first, last in ranges)


def _without(ranges: tuple[tuple[int, int], ...], points: frozenset[str]) -> tuple[tuple[int, int], ...]:
    """`ranges` less the code points of `points` (each range split around them)."""
    left: list[tuple[int, int]] = []
    for first, last in ranges:
        start = first
        for point in sorted(ord(char) for char in points if first <= ord(char) <= last):
            if start < point:
                left.append((start, point - 1))
            start = point + 1
        if start <= last:
            left.append((start, last))
    return tuple(left)


#: REFUSED_RANGES but the joiners: refused wherever they are.
_ALWAYS_REFUSED = _without(REFUSED_RANGES, JOINERS)
_REFUSED_CHARACTER = re.compile(f"[{_characters(_ALWAYS_REFUSED)}]")
_JOINER = re.compile(f"[{''.join(sorted(JOINERS))}]")


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def _refused_at(value: str) -> list[int]:
    """Where `value` holds a refused character: the policy, in one place. Any of REFUSED_RANGES,
    save a joiner with a letter on either side."""
    found = [match.start() for match in _REFUSED_CHARACTER.finditer(value)]
    for match in _JOINER.finditer(value):
        index = match.start()
        if not (0 < index < len(value) - 1 and _is_letter(value[index - 1]) and _is_letter(value[index + 1])):
            found.append(index)
    return sorted(found)


def first_refused_character(value: str) -> str | None:
    """The first character of `value` refused where it is, or None. None of them is printable,
    so most text is passed by `isprintable()` alone."""
    if value.isprintable():
        return None
    found = _refused_at(value)
    return value[found[0]] if found else None


def has_refused_characters(value: str) -> bool:
    """Whether `value` holds a refused character (`first_refused_character`). No stored name,
    reference, email or market id holds one (they are refused on the way in), so text typed
    with one (a login, a search, a forged choice) matches nothing: answer so without asking the
    database, which may not take it (PostgreSQL refuses a NUL in any text parameter)."""
    return first_refused_character(value) is not None


def shown(value: str) -> str:
    """`value` with each refused character replaced by U+FFFD: what was typed, fit to be stored
    in a record of attempts (a text column takes no NUL) or written to a log line."""
    if value.isprintable():
        return value
    refused = set(_refused_at(value))
    return "".join("\ufffd" if index in refused else char for index, char in enumerate(value))


def refuse_control_characters(value: str) -> str:
    """Names and references are printable text; anything of REFUSED_RANGES is a forged or
    broken input (and PostgreSQL cannot store a NUL). The message names the character."""
    char = first_refused_character(value)
    if char is not None:
        raise ValidationError(
            f"Must not contain control characters, invisible characters or line separators (found U+{ord(char):04X})."
        )
    return value


#: The joiners are left in: the server takes them between letters, which a pattern cannot say in a
#: regular expression every JSON Schema engine reads (no letter class): the document allows them
#: anywhere, so that a name the server takes is never refused by a client holding it to the document.
_DECLARED = _characters(tuple(r for r in _ALWAYS_REFUSED if r != SURROGATES))
#: Printable text as JSON Schema says it (for clients and fuzzers): no character of REFUSED_RANGES...
PRINTABLE_PATTERN = f"^[^{_DECLARED}]*$"
#: ...and, where a value is needed, not only spaces (what is left once `str.strip()` removed them).
NOT_BLANK_PATTERN = f"^[^{_DECLARED}]*[^{_DECLARED}{SPACES}][^{_DECLARED}]*$"


class Text(fields.String):
    """A string with surrounding spaces removed; blank counts as missing when required (or, in a
    change where the field may be left out, when `not_blank`)."""

    def __init__(
        self, *, max_length: int, required: bool = False, not_blank: bool | None = None, **kwargs: Any
    ) -> None:
        not_blank = required if not_blank is None else not_blank
        validators = [validate.Length(max=max_length, error=f"Must be at most {max_length} characters.")]
        if not_blank:
            validators.append(validate.Length(min=1, error="Required: must not be blank."))
        metadata = {"pattern": NOT_BLANK_PATTERN if not_blank else PRINTABLE_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(required=required, validate=validators, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        return refuse_control_characters(value).strip()


class OptionalText(fields.String):
    """An optional string where blank means 'not given' (stored as null)."""

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        self.max_length = max_length
        metadata = {"pattern": PRINTABLE_PATTERN, "maxLength": max_length, **kwargs.pop("metadata", {})}
        super().__init__(allow_none=True, load_default=None, metadata=metadata, **kwargs)

    # Blank loads as None (stored null), where marshmallow's String promises a str.
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str | None:
        value = refuse_control_characters(super()._deserialize(value, attr, data, **kwargs)).strip()
        if len(value) > self.max_length:
            raise ValidationError(f"Must be at most {self.max_length} characters.")
        return value or None


#: The longest phone number taken as typed, from the + on (E.164 itself is at most 16 characters).
PHONE_MAX_LENGTH = 32
#: The shape of an international number as typed ("+33 1 23 45 67 89"): + and the country code,
#: then ASCII digits, spaces, dots, dashes and brackets. One definition: the OpenAPI document
#: shows it, and `PhoneNumber` holds every number to it (surrounding spaces aside, as for every
#: text field); whether the number is valid for its country is phonenumbers' part.
PHONE_PATTERN = rf"^\+[0-9][0-9 ().-]{{5,{PHONE_MAX_LENGTH - 2}}}$"
_PHONE_SHAPE = re.compile(PHONE_PATTERN)


class PhoneNumber(fields.String):
    """An international phone number, stored in E.164 form (+33123456789).

    Only what PHONE_PATTERN says is taken. phonenumbers alone reads far more, and quietly: it
    dropped an extension ("... ext. 5") that was then never stored, turned letters into digits
    ("+1 800 FLOWERS"), read full-width digits, and let a control character or a lone surrogate
    through to the database (a 500). Extensions are refused, not stored: there is no field for
    one, and nobody would see it."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "pattern": PHONE_PATTERN,
            "maxLength": PHONE_MAX_LENGTH,
            "example": "+33 1 23 45 67 89",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        value = refuse_control_characters(super()._deserialize(value, attr, data, **kwargs)).strip(" ")
        if not value.startswith("+"):
            raise ValidationError("Enter an international number: + then the country code, e.g. +33 1 23 45 67 89.")
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and number.extension:
            raise ValidationError("Give the number without an extension: extensions are not stored.")
        if not _PHONE_SHAPE.fullmatch(value):
            raise ValidationError(
                "Not a valid phone number: use only digits, spaces, dots, dashes and brackets after the + and the "
                f"country code, at most {PHONE_MAX_LENGTH} characters in all, e.g. +33 1 23 45 67 89."
            )
        if number is None:
            raise ValidationError("Not a valid phone number.")
        if not phonenumbers.is_valid_number(number):
            raise ValidationError("Not a valid phone number for its country.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class EmailAddress(fields.String):
    """A valid email address, normalised to lower case since it is a login. Internationalised
    ones too ("claire@exämple.com", RFC 6531): the document says `idn-email`, as JSON Schema names
    that format, since with `email` (ASCII only) a client holding an address to the document
    refused one the server takes."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "idn-email", "maxLength": 254, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(value) > 254:
            raise ValidationError("Must be at most 254 characters.")
        return _normalized_email(value)


def login_email(typed: str) -> str:
    """The login an email typed at the login page names: normalised as logins are stored
    (EmailAddress: Unicode NFC, the domain's Unicode form, lower case), so "Claire@XN--EXMPLE-CUA.com"
    or a decomposed "ä" reach the login "claire@exämple.com", and count against its throttle.
    Text that is no valid address is only trimmed and lower-cased: it matches no login."""
    typed = typed.strip()
    try:
        return _normalized_email(typed) if len(typed) <= 254 else typed.lower()
    except ValidationError:
        return typed.lower()


@functools.lru_cache(maxsize=1024)
def _normalized_email(value: str) -> str:
    """The address's normal form, or a ValidationError. Remembered (a refusal is not): checking
    an address (its domain character by character, for IDNA) was a third of loading an account
    request, and the KAM's address comes back on every request of a CRM."""
    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValidationError(f"Not a valid email address: {error}") from None
    return checked.normalized.lower()


class UtcDateTime(fields.DateTime):
    """Timestamps are stored as naive UTC; say so on the way out (2026-11-25T13:16:27.872081+00:00)."""

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | float | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)


#: ASCII digits, matched whole (`fullmatch`): `\d` took full-width digits and `$` a trailing newline.
_MONTH = re.compile(MONTH_PATTERN)

#: A decimal number as written by a person or a CRM: ASCII digits, a dot for decimals, a sign.
#: Python's Decimal also read "８０", "٨٠", "1_000" and "8e1" as numbers, so a quantity or a
#: price nobody meant to write was stored; the one reading of a decimal typed in as text.
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
DECIMAL_FORM = "digits with a dot for decimals, e.g. 85.40"


def is_decimal_text(text: str) -> bool:
    """Whether `text` writes a decimal number as DECIMAL_FORM says (matched whole)."""
    return _DECIMAL.fullmatch(text) is not None


class DecimalText(fields.Decimal):
    """A decimal given as a JSON number, or as text written as DECIMAL_FORM says (not every
    form Python's Decimal reads; see `_DECIMAL`)."""

    default_error_messages = {
        "invalid": f"Not a valid number: write {DECIMAL_FORM}.",
        "places": "Give at most {places} decimal places.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, str) and not is_decimal_text(value):
            raise self.make_error("invalid")
        # marshmallow rounds to `places` before validating: 100.004 % would pass as 100.00, a
        # price of 84.123456 be stored as another. A value is taken as written, or refused.
        if self.places is not None and isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                written = Decimal(str(value))
                too_precise = written != written.quantize(self.places)  # marshmallow keeps places as 10**-places
            except ArithmeticError:  # not a number, or too large to round: marshmallow's own refusal
                too_precise = False
            if too_precise:
                raise self.make_error("places", places=-int(self.places.as_tuple().exponent))
        return super()._deserialize(value, attr, data, **kwargs)


def parse_month(text: object) -> dt.date | None:
    """The first day of the month `text` writes as YYYY-MM, from FIRST_YEAR to LAST_YEAR; None
    when it is not one. The one reading of a month: a delivery month (optimisations' `Month`)
    and a forecast file's lines."""
    if not isinstance(text, str) or not _MONTH.fullmatch(text):
        return None
    return dt.date(int(text[:4]), int(text[5:7]), 1)


class Day(fields.Date):
    """A date as YYYY-MM-DD in ASCII digits, from FIRST_YEAR to LAST_YEAR. marshmallow reads a
    date with Python's `date.fromisoformat`, which since 3.11 also takes "20261207" and
    "2026-W49-1": forms nobody documented, which a client's validator would refuse."""

    default_error_messages = {"invalid": "Not a valid date: write it as YYYY-MM-DD, e.g. 2027-01-31."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"pattern": DAY_PATTERN, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValidationError(f"Must be from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31.")
        return day


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Choices(fields.List):
    """Choices from a closed set, each at most once: a repeat is refused by the field, and the
    OpenAPI document says `uniqueItems` (one rule, where the list is declared)."""

    def __init__(self, choice: fields.Field, *, what: str, **kwargs: Any) -> None:
        self.repeated = f"Each {what} may be chosen once."
        super().__init__(choice, metadata={"uniqueItems": True, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[Any]:
        chosen = super()._deserialize(value, attr, data, **kwargs)
        if len(set(chosen)) != len(chosen):
            raise ValidationError(self.repeated)
        return chosen


class YesNo(fields.Boolean):
    """JSON true or false, nothing else. marshmallow's truthy and falsy sets cannot say it alone:
    1 == True in Python, so {True} also holds 1 and 1.0, and {False} 0."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def yes_no(**kwargs: Any) -> fields.Boolean:
    """A yes/no answer: JSON true or false, nothing else."""
    return YesNo(error_messages={"required": "Answer yes or no."}, **kwargs)


class PatchSchema(Schema):
    """A change that names only what changes (the API's PATCH bodies): a field left out is left
    alone. A subclass of a creation schema inherits its fields' `load_default`s and `required`s;
    a default would load a left-out field as if it had been sent (a PATCH of the phone wiped the
    customer reference, null by default), and the OpenAPI document would promise that default.
    So every field bound to a PatchSchema loses both, whatever schema it was declared in; its
    validators stay (a sent name must not be blank), and an explicit null still loads as null
    where the field allows it."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.load_default = missing
        field_obj.required = False
        super().on_bind_field(field_name, field_obj)


class CustomerSchema(Schema):
    """Step 1 of the article, 'Defining the customer'."""

    class Meta:
        unknown = RAISE

    company = Text(max_length=200, required=True)
    customer_reference = OptionalText(max_length=64)
    last_name = Text(max_length=100, required=True)
    first_name = Text(max_length=100, required=True)
    phone = PhoneNumber(required=True)
    email = EmailAddress(required=True)
    is_demo = yes_no(required=True)


class MarketSetupSchema(Schema):
    """One market of step 2: dates, shared forecasts and the number of optimisations."""

    class Meta:
        unknown = RAISE

    market = fields.String(
        required=True,
        validate=validate.OneOf(sorted(CATALOGUE), error="Unknown market {input!r}: choose one of {choices}."),
    )
    start_date = Day(load_default=today)
    end_date = Day(required=True)
    forecasts = Choices(
        fields.String(validate=validate.OneOf(FORECASTS, error="Unknown forecast {input!r}: choose among {choices}.")),
        what="forecast",
        required=True,
        validate=validate.Length(min=1, error="Choose at least one forecast to share."),
    )
    max_optimisations = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(
            min=1,
            max=MAX_OPTIMISATIONS_CEILING,
            error=f"Must be a whole number from 1 to {MAX_OPTIMISATIONS_CEILING}.",
        ),
    )

    @validates_schema(skip_on_field_errors=False)
    def check_dates_and_forecasts(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Raise a ValidationError by field when the end date is before the start, a forecast
        repeats, or the client forecast is chosen without the application or manager one. (An end
        date in the past is refused by `past_end_dates`, which knows what the account stores.)"""
        errors: dict[str, list[str]] = {}
        start, end = data.get("start_date"), data.get("end_date")
        if end is not None and start is not None and end < start:
            errors.setdefault("end_date", []).append("Must be on or after the start date.")
        forecasts = data.get("forecasts") or []
        if "client" in forecasts and not {"application", "manager"} & set(forecasts):
            errors.setdefault("forecasts", []).append(
                "The client forecast is an option: share the application or the manager forecast with it."
            )
        if errors:
            raise ValidationError(errors)


PAST_END_DATE = "Must not be in the past."


def past_end_dates(markets: Any, stored: Mapping[str, dt.date | None]) -> dict[int, dict[str, list[str]]]:
    """The markets of a loaded set-up (by index) whose end date the KAM sets in the past, as
    {index: {"end_date": [PAST_END_DATE]}}. `stored` holds the end date each market of the
    account has now (empty when creating): a market kept with its end date unchanged is not being
    set, so an access that has ended since does not stop the account's other parameters from
    being saved. Reads partly loaded markets too (marshmallow's valid data), so this message
    shows with the others."""
    problems: dict[int, dict[str, list[str]]] = {}
    for index, market in enumerate(markets if isinstance(markets, list) else []):
        end = market.get("end_date") if isinstance(market, dict) else None
        if isinstance(end, dt.date) and end < today() and stored.get(market.get("market")) != end:
            problems[index] = {"end_date": [PAST_END_DATE]}
    return problems


class SetupSchema(Schema):
    """Step 2 of the article, 'Setting up of the account'."""

    class Meta:
        unknown = RAISE

    app_access = yes_no(required=True)
    editor = fields.String(
        validate=validate.OneOf(EDITORS, error="Choose who edits the optimisation: the KAM or the customer.")
    )
    markets = fields.List(fields.Nested(MarketSetupSchema))

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def check_access_answers(self, data: dict[str, Any], original: Any = None, **kwargs: Any) -> None:
        """Raise a ValidationError by field when the answers do not follow the access answer: the
        editor and markets only and always with access (at least one market, each once). An
        editor sent but refused by its field already has its message: not said twice."""
        errors: dict = {}
        sent = original if isinstance(original, Mapping) else {}
        if data.get("app_access") is False:
            for field in ("editor", "markets"):
                if field in data:
                    errors[field] = ["Only asked when the customer gets access to the application."]
        elif data.get("app_access") is True:
            if "editor" not in data and "editor" not in sent:
                errors["editor"] = ["Choose who edits the optimisation: the KAM or the customer."]
            markets = data.get("markets")
            if not markets:
                errors["markets"] = ["Select at least one market when the customer gets access."]
            else:
                seen: set[str] = set()
                for index, market in enumerate(markets):
                    market_id = market.get("market")
                    if market_id in seen:
                        errors.setdefault("markets", {})[index] = {"market": [f"{market_id} is selected twice."]}
                    seen.add(market_id)
        if errors:
            raise ValidationError(errors)


class AccountRequestSchema(Schema):
    """A request to create a customer account, from the CRM or the wizard."""

    class Meta:
        unknown = RAISE

    kam_email = EmailAddress(required=True, metadata={"description": "The KAM who owns the account."})
    customer = fields.Nested(CustomerSchema, required=True)
    setup = fields.Nested(SetupSchema, required=True)

    @validates_schema(skip_on_field_errors=False)
    def check_end_dates(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Raise a ValidationError by market when an end date is in the past: a new account
        stores nothing yet, so every end date is one the KAM sets (`past_end_dates`)."""
        setup = data.get("setup")
        problems = past_end_dates(setup.get("markets"), {}) if isinstance(setup, dict) else {}
        if problems:
            raise ValidationError({"setup": {"markets": problems}})


# --- What the API answers -------------------------------------------------------------------


class StageViewSchema(Schema):
    """One stage run of an account as the API answers it."""

    name = fields.String(validate=validate.OneOf(workflow.STAGE_NAMES))
    state = fields.String(validate=validate.OneOf(workflow.STAGE_STATES))
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class MarketViewSchema(Schema):
    """One market access of an account as the API answers it."""

    market = fields.String(validate=validate.OneOf(sorted(CATALOGUE)))
    start_date = fields.Date()
    end_date = fields.Date()
    forecasts = fields.List(fields.String(validate=validate.OneOf(FORECASTS)))
    max_optimisations = fields.Integer()
    active = fields.Boolean(metadata={"description": "Whether the entitlement is activated."})


class LinksSchema(Schema):
    """Links of a resource (`self`: its absolute URL)."""

    self_ = fields.Url(data_key="self", attribute="self", metadata={"description": "This resource's URL"})


class CustomerViewSchema(Schema):
    """The customer step of an account as the API answers it."""

    company = fields.String()
    customer_reference = fields.String(allow_none=True)
    last_name = fields.String()
    first_name = fields.String()
    phone = fields.String(metadata={"description": "E.164", "example": "+33123456789"})
    email = EmailAddress()
    is_demo = fields.Boolean()


class SetupViewSchema(Schema):
    """The setup step of an account as the API answers it."""

    app_access = fields.Boolean()
    editor = fields.String(
        allow_none=True,
        validate=validate.OneOf(EDITORS),
        metadata={"description": "Who edits the optimisations; null without access"},
    )


class AccountViewSchema(Schema):
    """An account as the API answers it: the plain values of `accounts.describe`."""

    class Meta:
        unknown = EXCLUDE

    id = fields.Integer()
    status = fields.String(validate=validate.OneOf(workflow.STATUSES))
    kam_email = EmailAddress()
    customer = fields.Nested(CustomerViewSchema)
    setup = fields.Nested(SetupViewSchema)
    markets = fields.List(fields.Nested(MarketViewSchema))
    stages = fields.List(fields.Nested(StageViewSchema))
    rejection_reasons = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        allow_none=True,
        metadata={"description": "When rejected: the reasons by field"},
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    links = fields.Nested(LinksSchema)


def plain_dumper(schema: Schema) -> Callable[[Mapping[str, Any]], dict]:
    """`schema.dump` of a dict of plain values (what `accounts.describe` returns), the same
    output made without marshmallow's per-field machinery: each field's own `_serialize`,
    nested schemas and lists of them walked the same way. For the answer of every POST, where
    `dump` took a twentieth of the gateway's time. The schema stays the one description of the
    view; a schema this cannot follow (dump hooks, defaults, a key read from elsewhere) is dumped
    by marshmallow itself."""
    steps = []
    for name, field in schema.dump_fields.items():
        if field.dump_default is not missing or not field._CHECK_ATTRIBUTE:
            return schema.dump
        inner = None
        if isinstance(field, fields.Nested) and not field.many:
            inner = ("one", plain_dumper(field.schema))
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested) and not field.inner.many:
            inner = ("each", plain_dumper(field.inner.schema))
        steps.append((field.attribute or name, field.data_key or name, field, inner, _unchanged_type(field)))
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.many:
        return schema.dump

    def dump(obj: Mapping[str, Any]) -> dict:
        if not isinstance(obj, Mapping):
            return schema.dump(obj)
        out = {}
        for attribute, key, field, inner, unchanged in steps:
            if "." in attribute or attribute not in obj:  # marshmallow's path lookup, or a missing key
                value = field.serialize(attribute, obj, accessor=schema.get_attribute)
                if value is missing:
                    continue
            else:
                value = obj[attribute]
                if value is None:
                    value = field._serialize(None, attribute, obj)
                elif inner is None:
                    if type(value) is not unchanged and unchanged is not object:
                        value = field._serialize(value, attribute, obj)
                elif inner[0] == "one":
                    value = inner[1](value)
                else:
                    value = [None if each is None else inner[1](each) for each in value]
            out[key] = value
        return out

    return dump


def _unchanged_type(field: fields.Field) -> type | None:
    """The type of the values `field._serialize` returns as they are (`object`: every value),
    so that `plain_dumper` need not call it for them; None when there is none known."""
    serialize = type(field)._serialize
    if serialize is fields.Field._serialize:  # Boolean, Raw: the value itself
        return object
    if serialize is fields.String._serialize:  # str(value)
        return str
    if serialize is fields.Number._serialize and isinstance(field, fields.Integer) and not field.as_string:
        return int  # int(value): the same int, but not the same bool
    return None


class AccountListSchema(Schema):
    """One page of accounts and the total."""

    items = fields.List(fields.Nested(AccountViewSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class QueryInteger(fields.Integer):
    """A whole number given in a query string: ASCII digits only. marshmallow reads a string
    with `int()`, which also takes `１`, `٣`, `1_0` (ten), ` 2` and `+2`: `page=１` answered page
    1 and `page=1_0` page 10 where a CRM's typo deserves a 422 naming the parameter. A minus
    sign passes, for the range to say what is allowed."""

    default_error_messages = {"digits": "Must be a whole number written with the digits 0-9."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
            raise self.make_error("digits")
        return super()._deserialize(value, attr, data, **kwargs)


class PageQuerySchema(Schema):
    """`page` (from 1, at most MAX_PAGE) and `per_page` (1 to 100) of a list; other
    parameters are refused."""

    class Meta:
        unknown = RAISE

    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE, error="Must be from 1 to {max}."))
    per_page = QueryInteger(load_default=20, validate=validate.Range(min=1, max=100, error="Must be from 1 to 100."))


class Since(fields.AwareDateTime):
    """A moment from which to list changes, any ISO 8601 date-time (UTC if it has no offset),
    converted to UTC. A CRM asking for "everything" sends the epoch or its language's smallest
    date (0001-01-01T00:00:00+01:00 is one): converting that to UTC passes year 1, which Python
    cannot hold (an OverflowError was a 500), so it is the first instant Python can hold, and
    the mirror case at year 9999 the last — the same accounts either way."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=dt.UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            return (dt.datetime.min if moment.year == dt.MINYEAR else dt.datetime.max).replace(tzinfo=dt.UTC)


class AccountListQuerySchema(PageQuerySchema):
    """The filters of the account list: status, demo or not, KAM, changed since."""

    status = fields.String(validate=validate.OneOf(workflow.STATUSES, error="Unknown status: choose one of {choices}."))
    is_demo = fields.Boolean(metadata={"description": "true: demo accounts only; false: real ones only"})
    # The shape of an address only: a filter by one no KAM can have finds nothing.
    kam_email = fields.Email(
        validate=validate.Length(max=254), metadata={"description": "Only the accounts of this KAM"}
    )
    updated_since = Since(
        metadata={"description": "ISO 8601 date-time; accounts changed at or after it (UTC if no offset)"}
    )


class MarketCatalogueSchema(Schema):
    """A market of the catalogue as the API answers it."""

    id = fields.String(validate=validate.OneOf(sorted(CATALOGUE)))
    name = fields.String()
    commodity = fields.String(validate=validate.OneOf(("gas", "power")))
    country = fields.String(
        validate=validate.OneOf(sorted({m.country for m in CATALOGUE.values()})),
        metadata={"description": "ISO 3166-1 alpha-2"},
    )
    short_term = fields.Boolean()


# --- Webhooks ----------------------------------------------------------------------------------


def _webhook_events() -> list[str]:
    from shared.webhooks import EVENTS  # shared.webhooks needs this module's fields: imported late

    return sorted(EVENTS.values())


class WebhookUrl(fields.String):
    """The URL's shape; whether its host is an address kamflow may call depends on the
    deployment's WEBHOOK_ALLOW_PRIVATE_NETWORKS, so `webhooks.register` checks that."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            return egress.check_url(value, allow_private=True)
        except egress.InvalidUrl as error:
            raise ValidationError(str(error)) from None


class WebhookRegistrationSchema(Schema):
    """A webhook registration: the URL (its shape; whether kamflow may call it is checked by
    webhooks.register) and whether to stop signing with the previous secret at once."""

    class Meta:
        unknown = RAISE

    url = WebhookUrl(
        required=True,
        metadata={
            "description": "Where kamflow POSTs account events.",
            "format": "uri",
            "maxLength": egress.MAX_URL_LENGTH,
            "pattern": egress.URL_PATTERN,
        },
    )
    revoke_previous_secret = yes_no(
        load_default=False,
        metadata={
            "description": (
                "Registering again issues a new secret; the previous one keeps signing alongside it for 24 hours "
                "(two signatures) so your receiver can switch. true: stop signing with it at once (it leaked)."
            )
        },
    )


class WebhookEndpointViewSchema(Schema):
    """The registered endpoint as the API answers it (the secret only when registered)."""

    url = fields.String(metadata={"format": "uri"})
    active = fields.Boolean()
    created_at = UtcDateTime()
    secret = fields.String(metadata={"description": "Shown once, when the endpoint is registered."})
    signature_header = fields.String(metadata={"description": "How deliveries are signed (Standard Webhooks)."})
    events = fields.List(fields.String(validate=validate.OneOf(_webhook_events())))
    previous_secret_valid_until = UtcDateTime(
        allow_none=True,
        metadata={
            "description": "Until when the secret this registration replaced still signs deliveries (a rotation)."
        },
    )


class WebhookDeliveryViewSchema(Schema):
    """One delivery of the log as the API answers it."""

    delivery_id = fields.UUID()
    event = fields.String(validate=validate.OneOf(_webhook_events()))
    account_id = fields.Integer()
    url = fields.String(metadata={"format": "uri"})
    state = fields.String(
        validate=validate.OneOf(("pending", "sending", "delivered", "cancelled")),
        metadata={"description": "cancelled: the URL was removed before it was delivered"},
    )
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = UtcDateTime()
    delivered_at = UtcDateTime(allow_none=True)


class WebhookDeliveryListSchema(Schema):
    """One page of the delivery log and the total."""

    items = fields.List(fields.Nested(WebhookDeliveryViewSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
