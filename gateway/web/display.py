"""How values read on the pages: dates in the reader's locale, statuses and stages in words.

Dates are rendered as <time datetime="ISO">ISO</time>; static/kamflow.js rewrites the text with
Intl.DateTimeFormat in the browser's language, so without JavaScript the ISO date remains.
Stored datetimes are naive UTC, so they are marked with a Z for the browser to convert.
"""

from __future__ import annotations

import datetime as dt

import phonenumbers
from flask import Blueprint
from markupsafe import Markup, escape

from shared import parameters
from shared.markets import CATALOGUE, FORECASTS

display = Blueprint("display", __name__)

STATUS_LABELS = {
    "pending": "Created",
    "validating": "Validating the customer",
    "provisioning": "Providing access",
    "activating": "Activating markets",
    "sending_credentials": "Sending credentials",
    "active": "Active",
    "rejected": "Rejected",
    "failed": "Failed",
}
STAGE_LABELS = {
    "validate_customer": "Validate the customer",
    "provision_access": "Provide access to the application",
    "activate_markets": "Activate the markets",
    "send_credentials": "Send the login credentials",
}
STATE_LABELS = {
    "waiting": "Waiting",
    "running": "Running",
    "retrying": "Retrying",
    "done": "Done",
    "skipped": "Not needed",
    "rejected": "Rejected",
    "failed": "Failed",
}
FORECAST_LABELS = {"application": "Application forecast", "manager": "Manager forecast", "client": "Client forecast"}
#: A field of the API ("customer.phone", "setup.markets.de-power.forecasts") as the pages name it.
FIELD_LABELS = {
    "company": "Company",
    "customer_reference": "Customer reference",
    "last_name": "Last name",
    "first_name": "First name",
    "phone": "Phone number",
    "email": "Email",
    "is_demo": "Demo account",
    "app_access": "Access to the application",
    "editor": "Who edits the optimisation",
    "markets": "Markets",
    "market": "Market",
    "start_date": "Start date",
    "end_date": "End date",
    "forecasts": "Shared forecasts",
    "max_optimisations": "Number of optimisations",
}


@display.app_template_filter("localdate")
def localdate(value) -> Markup:
    if value is None:
        return Markup("")
    if isinstance(value, dt.datetime):
        iso = value.replace(microsecond=0).isoformat() + ("Z" if value.tzinfo is None else "")
        kind = "datetime"
    else:
        iso, kind = value.isoformat(), "date"
    return Markup(f'<time datetime="{escape(iso)}" data-format="{kind}">{escape(iso[:16].replace("T", " "))}</time>')


@display.app_template_filter("status_label")
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


@display.app_template_filter("stage_label")
def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage)


@display.app_template_filter("state_label")
def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


@display.app_template_filter("phone")
def phone(e164: str) -> str:
    """+33123456789 as people write it: +33 1 23 45 67 89."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@display.app_template_filter("market_name")
def market_name(market_id: str) -> str:
    market = CATALOGUE.get(market_id)
    return market.name if market else market_id


@display.app_template_filter("forecast_names")
def forecast_names(forecasts) -> str:
    """Shared forecasts in the article's order (Application, Manager, Client) and words."""
    chosen = set(forecasts or ())
    return ", ".join(FORECAST_LABELS[f] for f in FORECASTS if f in chosen)


@display.app_template_filter("field_label")
def field_label(path: str) -> str:
    """'setup.markets.de-power.forecasts' -> 'Germany power, shared forecasts';
    'customer.email' -> 'Email'. Codes belong to the API; a person reads names."""
    parts = [p for p in path.split(".") if p not in ("customer", "setup", "json")]
    if len(parts) >= 2 and parts[0] == "markets":
        market = market_name(parts[1])
        rest = parts[2:]
        if not rest or rest == ["market"]:
            return market
        return f"{market}, {FIELD_LABELS.get(rest[-1], rest[-1]).lower()}"
    if not parts:
        return ""
    return FIELD_LABELS.get(parts[-1], parts[-1])


@display.app_template_filter("yes_no")
def yes_no(value) -> str:
    return "Yes" if value else "No"


def editor_name(editor: str | None) -> str:
    return {"kam": "The KAM", "customer": "The customer"}.get(editor or "", "—")


def change_value(field: str, value) -> str:
    """An old or new value of the History, as the page shows it."""
    if value is None or value == "":
        return "—"
    last = field.split(".")[-1]
    if field.startswith("setup.markets."):
        if isinstance(value, dict):
            return (
                f"from {value.get('start_date')} to {value.get('end_date')}; {forecast_names(value.get('forecasts'))}; "
                f"{value.get('max_optimisations')} optimisation(s)"
            )
    if last == "editor":
        return editor_name(value)
    if isinstance(value, bool):
        return yes_no(value)
    if last == "phone":
        return phone(value)
    return str(value)


@display.app_template_filter("changes")
def changes(detail) -> list[tuple[str, str, str]]:
    """An audit event's recorded changes as (field, old, new) in the pages' words; a changed
    market is told field by field ("Germany power, end date")."""
    found = (detail or {}).get("changes") or {}
    rows = []
    for field, (old, new) in found.items():
        if field.startswith("setup.markets.") and isinstance(old, dict) and isinstance(new, dict):
            for part in ("start_date", "end_date", "forecasts", "max_optimisations"):
                if old.get(part) != new.get(part):
                    sub = f"{field}.{part}"
                    rows.append((field_label(sub), _part_value(part, old.get(part)), _part_value(part, new.get(part))))
            continue
        rows.append((field_label(field), change_value(field, old), change_value(field, new)))
    return rows


def _part_value(part: str, value) -> str:
    if part == "forecasts":
        return forecast_names(value) or "—"
    return "—" if value is None else str(value)


#: The form fields of step 1 (a step 2 page shows their errors but has no field to link to).
CUSTOMER_FIELD_KEYS = parameters.CUSTOMER_TEXT_FIELDS + ("email", "is_demo")


@display.app_template_global("field_labels")
def field_labels(market_ids=(), customer: bool = True) -> dict[str, str]:
    """What each form field (by its form name) is called in an error summary. A market's fields
    carry the market's name ("France power, end date"), since eight cards each have an "End
    date". Without `customer`, only the fields of step 2 (the ones a step 2 page can link to)."""
    keys = (CUSTOMER_FIELD_KEYS if customer else ()) + ("app_access", "editor", "markets")
    labels = {key: FIELD_LABELS[key] for key in keys}
    for market_id in market_ids:
        labels[f"{market_id}-market"] = market_name(market_id)
        labels.update(
            {
                f"{market_id}-{field}": field_label(f"setup.markets.{market_id}.{field}")
                for field in parameters.MARKET_FIELDS
            }
        )
    return labels
