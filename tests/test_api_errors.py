"""Bad input gets a clear 4xx naming the field and the reason, and nothing is stored."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from support import BAD_PHONES, DELETE, account_request, document_validator

from shared import db
from shared.models import AuditEvent, CustomerAccount, IdempotencyKey, MarketAccess, StageRun

TODAY = dt.date.today()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()

# (what is wrong, changes to a valid request, the path of the error in errors.json, words of the reason)
BAD_INPUTS = [
    ("company missing", {"customer.company": DELETE}, ("customer", "company"), "Missing data"),
    ("company blank", {"customer.company": "   "}, ("customer", "company"), "must not be blank"),
    ("company too long", {"customer.company": "x" * 201}, ("customer", "company"), "at most 200"),
    ("company not a string", {"customer.company": 42}, ("customer", "company"), "Not a valid string"),
    ("reference too long", {"customer.customer_reference": "R" * 65}, ("customer", "customer_reference"), "at most 64"),
    ("last name missing", {"customer.last_name": DELETE}, ("customer", "last_name"), "Missing data"),
    ("first name blank", {"customer.first_name": ""}, ("customer", "first_name"), "must not be blank"),
    ("phone without country code", {"customer.phone": "01 23 45 67 89"}, ("customer", "phone"), "international number"),
    ("phone not a number", {"customer.phone": "+33 call me"}, ("customer", "phone"), "Not a valid phone number"),
    ("phone too short for its country", {"customer.phone": "+33 1 23"}, ("customer", "phone"), "Not a valid phone"),
    ("email missing", {"customer.email": DELETE}, ("customer", "email"), "Missing data"),
    ("email invalid", {"customer.email": "claire.martin@"}, ("customer", "email"), "Not a valid email"),
    ("email too long", {"customer.email": "a" * 250 + "@x.example"}, ("customer", "email"), "at most 254"),
    ("demo answer missing", {"customer.is_demo": DELETE}, ("customer", "is_demo"), "Answer yes or no"),
    ("demo answer not yes/no", {"customer.is_demo": "maybe"}, ("customer", "is_demo"), "Not a valid boolean"),
    # 1 == True in Python: a JSON number must not pass for a yes or a no.
    ("demo answer a number", {"customer.is_demo": 1}, ("customer", "is_demo"), "Not a valid boolean"),
    ("access answer a number", {"setup.app_access": 0}, ("setup", "app_access"), "Not a valid boolean"),
    ("unknown customer field", {"customer.vat": "FR123"}, ("customer", "vat"), "Unknown field"),
    ("access answer missing", {"setup.app_access": DELETE}, ("setup", "app_access"), "Answer yes or no"),
    ("editor missing with access", {"setup.editor": DELETE}, ("setup", "editor"), "Choose who edits the optimisation"),
    ("editor unknown", {"setup.editor": "manager"}, ("setup", "editor"), "Choose who edits"),
    ("no market with access", {"setup.markets": []}, ("setup", "markets"), "at least one market"),
    (
        "markets asked without access",
        {"setup.app_access": False, "setup.editor": DELETE},
        ("setup", "markets"),
        "Only asked when the customer gets access",
    ),
    ("unknown market", {"setup.markets.0.market": "xx-power"}, ("setup", "markets", "0", "market"), "Unknown market"),
    ("market twice", {"setup.markets.1.market": "fr-power"}, ("setup", "markets", "1", "market"), "selected twice"),
    (
        "impossible date",
        {"setup.markets.0.end_date": "2027-02-30"},
        ("setup", "markets", "0", "end_date"),
        "Not a valid date",
    ),
    (
        "date not a date",
        {"setup.markets.0.start_date": "next monday"},
        ("setup", "markets", "0", "start_date"),
        "Not a valid date",
    ),
    *[
        (f"date {day!r}", {"setup.markets.0.start_date": day}, ("setup", "markets", "0", "start_date"), why)
        for day, why in [
            ("20261207", "YYYY-MM-DD"),  # Python 3.11's fromisoformat took it
            ("2026-W49-1", "YYYY-MM-DD"),
            ("2026-12-07\n", "YYYY-MM-DD"),
            ("\uff12\uff10\uff12\uff16-12-07", "YYYY-MM-DD"),
            ("0001-01-01", "from 2000-01-01 to 2099-12-31"),
        ]
    ],
    (
        "end date 9999",
        {"setup.markets.0.end_date": "9999-12-31"},
        ("setup", "markets", "0", "end_date"),
        "to 2099-12-31",
    ),
    (
        "end date in the past",
        {"setup.markets.0.start_date": "2020-01-01", "setup.markets.0.end_date": YESTERDAY},
        ("setup", "markets", "0", "end_date"),
        "Must not be in the past",
    ),
    (
        "end before start",
        {
            "setup.markets.0.start_date": (TODAY + dt.timedelta(days=30)).isoformat(),
            "setup.markets.0.end_date": (TODAY + dt.timedelta(days=10)).isoformat(),
        },
        ("setup", "markets", "0", "end_date"),
        "on or after the start date",
    ),
    ("no forecast", {"setup.markets.0.forecasts": []}, ("setup", "markets", "0", "forecasts"), "at least one forecast"),
    (
        "unknown forecast",
        {"setup.markets.0.forecasts": ["oracle"]},
        ("setup", "markets", "0", "forecasts", "0"),
        "Unknown forecast",
    ),
    (
        "client forecast alone",
        {"setup.markets.0.forecasts": ["client"]},
        ("setup", "markets", "0", "forecasts"),
        "share the application or the manager forecast",
    ),
    (
        "forecast twice",
        {"setup.markets.0.forecasts": ["application", "application"]},
        ("setup", "markets", "0", "forecasts"),
        "chosen once",
    ),
    (
        "zero optimisations",
        {"setup.markets.0.max_optimisations": 0},
        ("setup", "markets", "0", "max_optimisations"),
        "whole number from 1",
    ),
    (
        "fractional optimisations",
        {"setup.markets.0.max_optimisations": 1.5},
        ("setup", "markets", "0", "max_optimisations"),
        "Not a valid integer",
    ),
    (
        "optimisations as text",
        {"setup.markets.0.max_optimisations": "2"},
        ("setup", "markets", "0", "max_optimisations"),
        "Not a valid integer",
    ),
    ("kam missing", {"kam_email": DELETE}, ("kam_email",), "Missing data"),
    ("kam not of the organisation", {"kam_email": "someone@elsewhere.example"}, ("kam_email",), "No active KAM"),
    ("customer not an object", {"customer": "Acme"}, ("customer", "_schema"), "Invalid input type"),
    ("NUL in the company", {"customer.company": "Acme\u0000 SAS"}, ("customer", "company"), "control characters"),
    *[(f"phone {phone!r}", {"customer.phone": phone}, ("customer", "phone"), why) for phone, why in BAD_PHONES],
    (
        "control character in a reference",
        {"customer.customer_reference": "R\u0007"},
        ("customer", "customer_reference"),
        "control characters",
    ),
]


def nothing_stored() -> bool:
    with db.database.connection_context():
        return not any(
            m.select().exists() for m in (CustomerAccount, MarketAccess, StageRun, AuditEvent, IdempotencyKey)
        )


def dig(errors: dict, path: tuple):
    for key in path:
        errors = errors[key]
    return " ".join(errors) if isinstance(errors, list) else str(errors)


@pytest.mark.parametrize(
    "changes, path, reason", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_is_refused_with_the_field_and_reason_and_nothing_is_stored(api, changes, path, reason):
    answer = api.create(account_request(**changes), headers={"Idempotency-Key": "bad-1"})
    assert answer.status_code == 422, answer.get_json()
    assert answer.is_json
    assert reason in dig(answer.get_json()["errors"]["json"], path)
    assert nothing_stored()


def test_malformed_json_is_a_400_in_json(api):
    answer = api.client.post(
        "/api/v1/customer-accounts", data="{not json", headers={**api.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.is_json and answer.get_json()["errors"] == {"json": ["Invalid JSON body."]}
    assert answer.get_json()["message"] == "The request body is not valid JSON."
    assert nothing_stored()


def test_a_body_that_is_not_an_object_is_refused(api):
    answer = api.create(["not", "an", "object"])
    assert answer.status_code == 422 and answer.is_json
    assert nothing_stored()


def test_a_huge_body_is_refused_before_it_is_read(api):
    answer = api.client.post(
        "/api/v1/customer-accounts",
        data="x" * (300 * 1024),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and answer.is_json
    assert nothing_stored()


def test_over_long_idempotency_key_is_refused(api):
    answer = api.create(account_request(), headers={"Idempotency-Key": "k" * 256})
    assert answer.status_code == 400 and "Idempotency-Key" in answer.get_json()["message"]
    assert nothing_stored()


@pytest.mark.parametrize("key", ["crm\x01-7", "crm-7\x7f", "crm\x1b[31m-7"])
def test_an_idempotency_key_with_a_control_character_is_refused(api, key):
    answer = api.create(account_request(), headers={"Idempotency-Key": key})
    assert answer.status_code == 400
    assert answer.get_json()["errors"]["headers"]["Idempotency-Key"] == [
        "Must hold printable characters only (no control characters)."
    ]
    assert nothing_stored()
    # ...as the document says: a client holding the header to it does not send it.
    import jsonschema

    operation = api.get("/api/openapi.json").get_json()["paths"]["/api/v1/customer-accounts"]["post"]
    (declared,) = [p["schema"] for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert jsonschema.Draft202012Validator(declared).is_valid("crm-7 2026-12-07T10:00:00Z")
    assert not jsonschema.Draft202012Validator(declared).is_valid(key)


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not-a-token"])
def test_missing_or_wrong_token_is_401_in_json(client, org, header):
    headers = {"Authorization": header} if header else {}
    answer = client.post("/api/v1/customer-accounts", json=account_request(), headers=headers)
    assert answer.status_code == 401 and answer.is_json
    assert "token" in answer.get_json()["message"].lower()
    assert nothing_stored()


def test_revoked_token_is_refused_at_once(api, org):
    from shared import organisations

    assert api.get("/api/v1/customer-accounts").status_code == 200
    with db.database.connection_context():
        organisations.revoke_api_tokens(org["organisation"], "crm")
    assert api.get("/api/v1/customer-accounts").status_code == 401


def test_unknown_route_and_method_answer_json(api):
    assert api.get("/api/v1/nothing-here").status_code == 404
    assert api.get("/api/v1/nothing-here").is_json
    answer = api.client.delete("/api/v1/customer-accounts", headers=api.headers)
    assert answer.status_code == 405 and answer.is_json
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    # An id no account can have is a 404 whatever the method, not a 405 naming methods it cannot use.
    past_64_bits = api.client.patch("/api/v1/customer-accounts/1031811889428287193088", json={}, headers=api.headers)
    assert past_64_bits.status_code == 404 and past_64_bits.is_json


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(settings, broker, org, redis_client):
    import dataclasses

    from support import Api

    from gateway import create_app

    redis_client.delete(*redis_client.keys("kamflow-ratelimit*") or ["none"])
    app = create_app(dataclasses.replace(settings, api_rate_limit="3 per minute"), broker=broker)
    api = Api(app.test_client(), org["token"])
    answers = [api.get("/api/v1/markets") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.is_json and 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Retry-After" not in answers[0].headers  # only a refusal says when to come back
    assert "3 per 1 minute" in refused.get_json()["message"]
    with db.database.connection_context():
        from shared import organisations

        other = organisations.create_api_token(org["organisation"], "second-crm")
    assert Api(app.test_client(), other).get("/api/v1/markets").status_code == 200  # per token


def test_a_blank_customer_reference_means_none(api):
    body = account_request(**{"customer.customer_reference": "  ", "setup": {"app_access": False}})
    answer = api.create(body)
    assert answer.status_code == 202
    assert answer.get_json()["customer"]["customer_reference"] is None


def test_markets_sent_without_access_with_their_own_errors_is_still_a_clear_422(api):
    body = account_request(**{"setup.app_access": False, "setup.markets.0.forecasts": ["client"]})
    answer = api.create(body)
    assert answer.status_code == 422
    markets = answer.get_json()["errors"]["json"]["setup"]["markets"]
    assert markets["_schema"] == ["Only asked when the customer gets access to the application."]
    assert "forecasts" in markets["0"]
    assert nothing_stored()


def test_an_unknown_query_parameter_is_refused_not_ignored(api):
    answer = api.get("/api/v1/customer-accounts?stauts=active")
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["query"]["stauts"] == ["Unknown field."]


def test_json_nested_too_deeply_is_a_400_not_a_crash(api):
    body = "[" * 100_000 + "]" * 100_000
    answer = api.client.post(
        "/api/v1/customer-accounts", data=body, headers={**api.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and answer.is_json
    assert answer.get_json()["message"] == "The JSON body is nested too deeply."
    assert nothing_stored()


def test_a_form_encoded_body_is_a_documented_415_on_every_operation_that_writes(api):
    """Also where no body is read (retry, resend-credentials): the answer is one the document lists."""
    spec = api.get("/api/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method in set(operations) & {"post", "put", "patch"}:
            url = path.replace("{account_id}", "1").replace("{optimisation_id}", "1").replace("{fixing_id}", "1")
            answer = api.client.open(url, method=method.upper(), data={"a": "b"}, headers=api.headers)
            assert answer.status_code == 415 and answer.is_json, (method, path)
            assert "415" in operations[method]["responses"], (method, path)
    assert nothing_stored()


def test_a_form_encoded_body_is_refused_as_not_json(api):
    answer = api.client.post(
        "/api/v1/customer-accounts", data={"kam_email": "kam@acme-energy.example"}, headers=api.headers
    )
    assert answer.status_code == 415 and answer.is_json
    assert "Content-Type: application/json" in answer.get_json()["message"]
    assert nothing_stored()


def operations_with_a_body(spec: dict) -> list[tuple[str, str]]:
    """(method, path) of every operation the document says takes a JSON body."""
    operations = [
        (method, path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert len(operations) >= 6  # create, PATCH, optimisations, fixings, webhook
    return operations


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_on_every_json_endpoint(api, constant):
    """Python's decoder reads them as numbers; JSON has none of them (RFC 8259)."""
    spec = api.get("/api/openapi.json").get_json()
    body = '{"max_optimisations": ' + constant + ', "volume_mwh": ' + constant + "}"
    for method, path in operations_with_a_body(spec):
        url = path.replace("{account_id}", "1").replace("{optimisation_id}", "1").replace("{fixing_id}", "1")
        answer = api.client.open(
            url, method=method.upper(), data=body, headers={**api.headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (method, path, answer.get_json())
        assert answer.get_json()["message"] == "The request body is not valid JSON."
        assert answer.get_json()["errors"]["json"] == [f"Invalid JSON body: {constant} is not a JSON number."]
    assert nothing_stored()


def test_an_integer_too_long_to_read_is_a_400_on_every_json_endpoint(api):
    # Past 4,300 digits json.loads raises a plain ValueError, which webargs let through: a 500.
    spec = api.get("/api/openapi.json").get_json()
    body = '{"max_optimisations": ' + "9" * 5000 + "}"
    operations = operations_with_a_body(spec)
    for method, path in operations:
        url = path.replace("{account_id}", "1").replace("{optimisation_id}", "1").replace("{fixing_id}", "1")
        answer = api.client.open(
            url, method=method.upper(), data=body, headers={**api.headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (method, path, answer.get_json())
        assert answer.get_json()["message"] == "The request body is not valid JSON."
        assert "more than 4300 digits" in answer.get_json()["errors"]["json"][0]
    assert nothing_stored()


def test_the_phone_pattern_of_the_document_is_the_one_the_server_holds_numbers_to(api):
    from shared.schemas import PHONE_MAX_LENGTH, PHONE_PATTERN

    schemas = api.get("/api/openapi.json").get_json()["components"]["schemas"]
    for name in ("Customer", "CustomerPatch"):
        phone = schemas[name]["properties"]["phone"]
        assert (phone["pattern"], phone["maxLength"]) == (PHONE_PATTERN, PHONE_MAX_LENGTH), name


#: Names as a CRM holds them: (the value, whether kamflow takes it). Refused: what REFUSED_CATEGORIES
#: says (invisible format characters, line separators, private use) and a name of spaces alone.
NAMES = [
    ("Müller & Söhne GmbH", True),
    ("株式会社 Ōsaka Café 😀", True),
    ("O'Brien-Smith (Ltd.)", True),
    ("\u0645\u0647\u200c\u0631\u0646\u0627\u0632", True),  # Persian, a zero-width non-joiner between letters
    ("Martin\u200bFoundry", False),  # zero-width space (Cf)
    ("Martin\u00adFoundry", False),  # soft hyphen (Cf)
    ("\ufeffMartin Foundry", False),  # byte-order mark (Cf)
    ("Martin\u202eyrdnuoF", False),  # right-to-left override (Cf)
    ("Martin\u2028Foundry", False),  # line separator (Zl)
    ("Martin\ue000Foundry", False),  # private use (Co)
    ("Martin Foundry\U000e0041", False),  # tag character (Cf, beyond the BMP)
    ("\u00a0", False),  # a no-break space alone: blank
    ("\u3000 \u2003", False),  # ideographic and em spaces alone: blank
]


@pytest.mark.parametrize("name, taken", NAMES, ids=[repr(name) for name, _ in NAMES])
def test_the_document_allows_a_name_exactly_when_the_server_takes_it(api, name, taken):
    """A client that checks a value against the document must be refused by neither: the pattern
    of every text field says the same characters as the server's check."""
    import jsonschema

    schemas = api.get("/api/openapi.json").get_json()["components"]["schemas"]
    for schema, field in (("Customer", "company"), ("Customer", "last_name"), ("Optimisation", "name")):
        declared = schemas[schema]["properties"][field]
        assert jsonschema.Draft202012Validator(declared).is_valid(name) == taken, (schema, field)
    answer = api.create(account_request(**{"customer.company": name, "customer.last_name": name}))
    assert answer.status_code == (202 if taken else 422), answer.get_json()
    if not taken:
        assert set(answer.get_json()["errors"]["json"]["customer"]) == {"company", "last_name"}


def test_a_reference_holds_any_printable_text_as_the_document_says(api):
    import jsonschema

    reference = api.get("/api/openapi.json").get_json()["components"]["schemas"]["Customer"]["properties"]
    declared = reference["customer_reference"]
    for value, taken in (("FR\u00a0123 😀", True), ("FR-123\u200b", False), ("FR-123\u2029", False)):
        assert jsonschema.Draft202012Validator(declared).is_valid(value) == taken, value
        answer = api.create(
            account_request(
                **{
                    "customer.customer_reference": value,
                    "setup.app_access": False,
                    "setup.editor": DELETE,
                    "setup.markets": DELETE,
                }
            )
        )
        assert answer.status_code == (202 if taken else 422), (value, answer.get_json())


def test_a_lone_surrogate_is_fingerprinted_not_a_crash():
    from shared import idempotency

    assert idempotency.fingerprint({"a": "\ud800"}) != idempotency.fingerprint({"a": "\ud801"})


@pytest.mark.parametrize(
    "since, listed",
    [
        ("0001-01-01T00:00:00%2B01:00", True),  # a CRM's "since ever": before year 1 in UTC, once a 500
        ("1970-01-01T00:00:00Z", True),
        ("9999-12-31T23:59:59-01:00", False),  # past year 9999 in UTC, once a 500
        ("2100-01-01", False),
    ],
)
def test_any_updated_since_lists_what_changed_from_then(api, since, listed):
    account_id = api.create(account_request()).get_json()["id"]
    answer = api.get(f"/api/v1/customer-accounts?updated_since={since}")
    assert answer.status_code == 200, answer.get_json()
    assert [item["id"] for item in answer.get_json()["items"]] == ([account_id] if listed else [])


@pytest.mark.parametrize(
    "path, query, name",
    [
        ("/api/v1/customer-accounts", "status=active&status=rejected", "status"),
        ("/api/v1/customer-accounts", "page=1&page=2", "page"),
        ("/api/v1/customer-accounts", "per_page=5&is_demo=true&is_demo=false", "is_demo"),
        ("/api/v1/webhook/deliveries", "per_page=5&per_page=50", "per_page"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_not_read_as_its_first(api, path, query, name):
    answer = api.get(f"{path}?{query}")
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors"]["query"] == {name: ["Give this parameter once."]}


@pytest.mark.parametrize("path", ["/api/v1/customer-accounts", "/api/v1/webhook/deliveries"])
@pytest.mark.parametrize(
    "query, name",
    [
        ("page=%EF%BC%92", "page"),  # full-width ２: was read as page 2
        ("page=%D9%A3", "page"),  # Arabic-Indic ٣: was page 3
        ("page=1_0", "page"),  # was page 10
        ("per_page=%2B5", "per_page"),  # +5
        ("per_page=%205", "per_page"),  # a space, then 5
    ],
)
def test_a_page_number_not_in_ascii_digits_is_refused_not_guessed(api, path, query, name):
    api.create(account_request())
    answer = api.get(f"{path}?{query}")
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors"]["query"] == {name: ["Must be a whole number written with the digits 0-9."]}


@pytest.mark.parametrize("path", ["/api/v1/customer-accounts", "/api/v1/webhook/deliveries"])
def test_a_negative_page_is_told_the_range(api, path):
    answer = api.get(f"{path}?page=-1")
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors"]["query"] == {"page": ["Must be from 1 to 1000000."]}


def test_a_chunked_body_that_is_not_json_is_refused_as_not_json(api):
    import io
    import json

    body = json.dumps(account_request()).encode()
    answer = api.client.post(
        "/api/v1/customer-accounts",
        input_stream=io.BytesIO(body),
        headers={**api.headers, "Content-Type": "text/plain", "Transfer-Encoding": "chunked"},
    )
    assert answer.status_code == 415 and answer.is_json
    assert "Content-Type: application/json" in answer.get_json()["message"]
    assert nothing_stored()


@pytest.mark.parametrize(
    "body, errors",
    [
        (
            '{"kam_email": "a@b.example", "kam_email": "c@d.example"}',
            {"kam_email": ["Give this key once in its object."]},
        ),
        (
            '{"customer": {"company": "A", "company": "B"}}',
            {"customer": {"company": ["Give this key once in its object."]}},
        ),
        (
            '{"setup": {"markets": [{"code": "FR"}, {"code": "FR", "code": "DE"}]}}',
            {"setup": {"markets": {"1": {"code": ["Give this key once in its object."]}}}},
        ),
    ],
    ids=["top level", "nested", "in a list"],
)
def test_a_key_given_twice_is_refused_on_every_json_endpoint_by_its_path(api, body, errors):
    # Read as its last value before: {"name": "a", "name": "b"} was stored as "b", without a word.
    spec = api.get("/api/openapi.json").get_json()
    account_id = api.create(account_request()).get_json()["id"]
    before = CustomerAccount.get_by_id(account_id).company
    operations = operations_with_a_body(spec)
    for method, path in operations:
        url = (
            path.replace("{account_id}", str(account_id)).replace("{optimisation_id}", "1").replace("{fixing_id}", "1")
        )
        answer = api.client.open(
            url, method=method.upper(), data=body, headers={**api.headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (method, path, answer.get_json())
        assert answer.get_json()["errors"] == {"json": errors}, (method, path)
        assert "a key more than once" in answer.get_json()["message"]
    assert CustomerAccount.select().count() == 1 and CustomerAccount.get_by_id(account_id).company == before


def test_the_same_key_in_different_objects_is_not_a_repeat(api):
    body = account_request()
    markets = body["setup"]["markets"]
    assert {"market", "end_date", "forecasts"} <= markets[0].keys() & markets[1].keys()  # in two objects
    answer = api.create(body)
    assert answer.status_code == 202, answer.get_json()


def test_the_refused_characters_are_the_refused_categories_and_the_spaces_what_strip_removes():
    """REFUSED_RANGES and SPACES are written out (the document's patterns are made of them):
    they must say what Python's Unicode database says, and be updated with it."""
    import sys
    import unicodedata

    from shared.schemas import REFUSED_CATEGORIES, SPACES, first_refused_character

    every = [chr(point) for point in range(sys.maxunicode + 1)]
    refused = {char for char in every if unicodedata.category(char) in REFUSED_CATEGORIES}
    assert {char for char in every if first_refused_character(char)} == refused
    spaces = re.compile(f"[{SPACES}]")
    assert {char for char in every if char.isspace() and char not in refused} == {
        char for char in every if spaces.fullmatch(char)
    }


#: BAD_INPUTS the document cannot refuse: the rule needs the database or today's date, joins two
#: fields or two markets, or is more than a pattern says (a number valid for its country, an
#: address's parts; Python's `$` also takes a trailing newline, which JSON Schema's does not).
BEYOND_THE_DOCUMENT = {
    "phone too short for its country",
    "email invalid",
    "market twice",
    "end date in the past",
    "end before start",
    "client forecast alone",
    "kam not of the organisation",
    "phone '+33 1 23 45 67 89\\n'",
}


@pytest.mark.parametrize(
    "changes",
    [case[1] for case in BAD_INPUTS if case[0] not in BEYOND_THE_DOCUMENT],
    ids=[case[0] for case in BAD_INPUTS if case[0] not in BEYOND_THE_DOCUMENT],
)
def test_the_document_refuses_each_bad_input_a_field_can_say(api, changes):
    declared = document_validator(api, "AccountRequest")
    assert declared.is_valid(account_request())
    assert not declared.is_valid(account_request(**changes))


def test_the_years_pattern_says_the_years_taken():
    from shared.schemas import FIRST_YEAR, LAST_YEAR, YEARS_PATTERN

    said = {year for year in range(10000) if re.fullmatch(YEARS_PATTERN, f"{year:04d}")}
    assert said == set(range(FIRST_YEAR, LAST_YEAR + 1))
