"""Between the account forms (the wizard's two steps, the edit page) and the shared schemas.

What was typed is kept as plain strings ("form state") so that it can go back into the fields
unchanged (Back keeps what was typed) and travel in the signed session cookie. `*_request`
turns a state into the exact shape of shared.schemas.AccountRequestSchema, and `field_errors`
turns marshmallow's nested errors back into form field names, so each message shows next to
its field. No rule is checked here: the schemas and shared.parameters do that.
"""

from __future__ import annotations

import datetime as dt
import re

from werkzeug.datastructures import MultiDict

from gateway.web.display import phone
from shared import parameters, rules
from shared.markets import CATALOGUE, FORECASTS

#: Step 1's text inputs: the customer's written fields (shared.parameters) and the email.
CUSTOMER_FIELDS = parameters.CUSTOMER_TEXT_FIELDS + ("email",)
#: A market card's text inputs; its forecasts are checkboxes, read apart.
MARKET_FIELDS = tuple(field for field in parameters.MARKET_FIELDS if field != "forecasts")
YES_NO = {"yes": True, "no": False}
#: A number as a person types it: ASCII digits, few enough to convert (str.isdigit also takes
#: "²" and other digits int() refuses, and int() refuses more than 4,300 digits). Anything else
#: goes to the schema as text, which says what is wrong by the field.
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def market_cards(organisation_id: int) -> dict:
    """What a form's market cards show besides what was typed: the catalogue, the markets whose
    manager forecasts this organisation offers, and today (the dates' lower bound)."""
    return {
        "catalogue": CATALOGUE,
        "with_manager": rules.markets_with_manager_forecasts(organisation_id),
        "today": dt.date.today(),
    }


def customer_state(form: MultiDict) -> dict:
    state = {name: form.get(name, "") for name in CUSTOMER_FIELDS}
    state["is_demo"] = form.get("is_demo", "")
    return state


def stored_customer_state(state: dict, customer: dict) -> dict:
    """What was typed, with the email and phone as the loaded (stored) values read: the email
    lower-case, the phone as people write it. One form of each on every page."""
    return {**state, "email": customer["email"], "phone": phone(customer["phone"])}


def customer_request(state: dict, *, with_email: bool = True) -> dict:
    customer = {name: state.get(name, "") for name in CUSTOMER_FIELDS if with_email or name != "email"}
    if state.get("is_demo") in YES_NO:
        customer["is_demo"] = YES_NO[state["is_demo"]]
    return customer


def blank_setup_state(market_ids: list[str], today: dt.date) -> dict:
    """Nothing answered yet; each market proposes today as its start date (the article's advice)."""
    return {
        "app_access": "",
        "editor": "",
        "markets": {
            m: {
                "selected": False,
                "start_date": today.isoformat(),
                "end_date": "",
                "forecasts": [],
                "max_optimisations": "",
            }
            for m in market_ids
        },
    }


def setup_state(form: MultiDict, market_ids: list[str]) -> dict:
    selected = set(form.getlist("markets"))
    return {
        "app_access": form.get("app_access", ""),
        "editor": form.get("editor", ""),
        "markets": {
            m: {
                "selected": m in selected,
                **{field: form.get(f"{m}-{field}", "") for field in MARKET_FIELDS},
                "forecasts": [f for f in FORECASTS if f in form.getlist(f"{m}-forecasts")],
            }
            for m in market_ids
        },
    }


def setup_request(state: dict) -> tuple[dict, list[str]]:
    """The schema's `setup`, and the market ids in the order of its `markets` list (to map
    errors by index back to fields). Fields left blank are left out, so the schema's own
    defaults and 'required' messages apply."""
    access = state.get("app_access")
    if access not in YES_NO:
        return {}, []
    setup: dict = {"app_access": YES_NO[access]}
    if not setup["app_access"]:
        return setup, []
    if state.get("editor"):
        setup["editor"] = state["editor"]
    order = [m for m, values in state["markets"].items() if values["selected"]]
    markets = []
    for market_id in order:
        values = state["markets"][market_id]
        market: dict = {"market": market_id, "forecasts": list(values["forecasts"])}
        for field in ("start_date", "end_date"):
            if values[field].strip():
                market[field] = values[field].strip()
        if values["max_optimisations"].strip():
            text = values["max_optimisations"].strip()
            market["max_optimisations"] = int(text) if WHOLE_NUMBER.fullmatch(text) else text
        markets.append(market)
    setup["markets"] = markets
    return setup, order


def account_setup_state(account, market_ids: list[str], today: dt.date) -> dict:
    """The edit page's starting point: the account's current setup as form state."""
    state = blank_setup_state(market_ids, today)
    state["app_access"] = "yes" if account.app_access else "no"
    state["editor"] = account.editor or ""
    for row in account.markets:
        state["markets"][row.market] = {
            "selected": True,
            "start_date": row.start_date.isoformat(),
            "end_date": row.end_date.isoformat(),
            "forecasts": list(row.forecasts),
            "max_optimisations": str(row.max_optimisations),
        }
    return state


def account_customer_state(account) -> dict:
    state = {name: getattr(account, name) or "" for name in CUSTOMER_FIELDS}
    state["phone"] = phone(account.phone)
    state["is_demo"] = "yes" if account.is_demo else "no"
    return state


def messages_of(node) -> list[str]:
    """Every message in one of marshmallow's error nodes (a list's errors come by index:
    {0: ["Unknown ..."]}), in order, as a page shows them next to the field."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [m for value in node.values() for m in messages_of(value)]
    return [m for value in node for m in messages_of(value)]


def field_errors(errors: dict, market_order: list[str]) -> dict[str, list[str]]:
    """marshmallow's nested errors ({"customer": {...}, "setup": {"markets": {0: {...}}}}) as
    {form field name: [messages]}; "_schema" collects what belongs to no field."""
    found: dict[str, list[str]] = {}

    def add(name, node):
        found.setdefault(name, []).extend(messages_of(node))

    for section in ("customer", "setup"):
        node = errors.get(section)
        if node is None:
            continue
        if not isinstance(node, dict):
            add(section if section == "setup" else "_schema", node)
            continue
        for field, value in node.items():
            if section == "setup" and field == "markets" and isinstance(value, dict):
                for index, market_errors in value.items():
                    if isinstance(index, int) and index < len(market_order) and isinstance(market_errors, dict):
                        for market_field, messages in market_errors.items():
                            add(f"{market_order[index]}-{market_field}", messages)
                    else:
                        add("markets", market_errors)
            else:
                add(field, value)
    for key, value in errors.items():
        if key not in ("customer", "setup"):
            add("_schema", value)
    return found
