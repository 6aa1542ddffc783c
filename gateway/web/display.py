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

from shared.markets import CATALOGUE

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
