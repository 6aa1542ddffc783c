"""The CRM API contract: create, read, list, markets, OpenAPI, idempotency and scoping."""

from __future__ import annotations

import datetime as dt
import re
import threading

from csrf import csrf_token
from support import Api, account_request

from shared import db, organisations
from shared.models import ApiToken, CustomerAccount, utcnow
from shared.schemas import AccountViewSchema, plain_dumper


def count_accounts() -> int:
    with db.database.connection_context():
        return CustomerAccount.select().count()


def test_same_idempotency_key_and_body_returns_the_first_answer_and_creates_nothing_more(api, worker):
    first = api.create(account_request(), headers={"Idempotency-Key": "crm-42"})
    assert first.status_code == 202
    api.wait_for_status(first.get_json()["id"])
    # Key order and spacing do not matter: it is the same JSON document.
    again = api.client.post(
        "/api/v1/customer-accounts",
        data=__import__("json").dumps(account_request(), sort_keys=True, indent=2),
        headers={**api.headers, "Idempotency-Key": "crm-42", "Content-Type": "application/json"},
    )
    assert again.status_code == 202
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_accounts() == 1


def test_same_idempotency_key_with_another_body_is_refused_clearly(api):
    assert api.create(account_request(), headers={"Idempotency-Key": "crm-43"}).status_code == 202
    other = api.create(account_request(**{"customer.company": "Another SA"}), headers={"Idempotency-Key": "crm-43"})
    assert other.status_code == 422
    body = other.get_json()
    assert "different body" in body["message"]
    assert body["errors"] == {"headers": {"Idempotency-Key": ["Already used with a different body."]}}
    assert count_accounts() == 1


def test_a_used_key_answers_as_before_whatever_else_the_request_would_be_refused_for(api, org):
    """A first request pays no lookup of its key: the key is found where the request cannot go
    on. Whatever stops it (an unknown KAM, a claim held, the key's own index once the first
    account gave its claims back), a key used before answers as it did, nothing is created."""
    first = api.create(account_request(), headers={"Idempotency-Key": "crm-44"})
    assert first.status_code == 202
    unknown_kam = api.create(
        account_request(kam_email="nobody@acme-energy.example"), headers={"Idempotency-Key": "crm-44"}
    )
    assert unknown_kam.status_code == 422 and "different body" in unknown_kam.get_json()["message"]
    with db.database.connection_context():  # as a rejected account does: its claims are given back
        CustomerAccount.update(email_claim=None, reference_claim=None).execute()
    again = api.create(account_request(), headers={"Idempotency-Key": "crm-44"})
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = api.create(account_request(**{"customer.company": "Another SA"}), headers={"Idempotency-Key": "crm-44"})
    assert other.status_code == 422 and "different body" in other.get_json()["message"]
    assert count_accounts() == 1


def test_without_a_key_each_post_is_a_new_request(api):
    ids = {
        api.create(
            account_request(
                **{
                    "customer.email": f"c{n}@foundry.example",
                    "customer.customer_reference": f"R{n}",
                    "setup": {"app_access": False},
                }
            )
        ).get_json()["id"]
        for n in range(2)
    }
    assert len(ids) == 2


def test_two_concurrent_requests_with_one_key_create_one_account(app, org):
    answers = []

    def post():
        client = app.test_client()
        answers.append(Api(client, org["token"]).create(account_request(), headers={"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [202] * 4
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert count_accounts() == 1


def test_get_one_shows_status_markets_and_stages(api, worker):
    created = api.create(account_request()).get_json()
    account = api.wait_for_status(created["id"])
    assert account["id"] == created["id"]
    assert account["kam_email"] == "kam@acme-energy.example"
    assert account["setup"] == {"app_access": True, "editor": "customer"}
    fr = next(m for m in account["markets"] if m["market"] == "fr-power")
    assert fr["forecasts"] == ["application", "manager", "client"] and fr["max_optimisations"] == 2
    assert [s["name"] for s in account["stages"]] == [
        "validate_customer",
        "provision_access",
        "activate_markets",
        "send_credentials",
    ]
    assert all(s["attempts"] == 1 for s in account["stages"])


def test_the_accepted_answer_is_the_account_as_read_back(api):
    """The 202 describes the account from what was just written: it must be what a GET reads,
    markets in their order whatever the request's, every stage waiting."""
    body = account_request()  # fr-power first, de-gas second: the answer sorts them, as a read does
    created = api.create(body, headers={"Idempotency-Key": "read-back"})
    assert created.status_code == 202
    answer = created.get_json()
    assert [m["market"] for m in answer["markets"]] == ["de-gas", "fr-power"]
    assert {(s["name"], s["state"], s["attempts"]) for s in answer["stages"]} == {
        (name, "waiting", 0)
        for name in ("validate_customer", "provision_access", "activate_markets", "send_credentials")
    }
    assert api.get(f"/api/v1/customer-accounts/{answer['id']}").get_json() == answer
    replayed = api.create(body, headers={"Idempotency-Key": "read-back"})
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.get_json() == answer


def test_the_plain_dump_of_a_view_is_marshmallows():
    """The 202's body is dumped by `plain_dumper`, not by marshmallow: the same output for
    every shape of view (nulls, empty and absent lists, nested nulls, reasons, dates)."""
    now = dt.datetime(2026, 11, 26, 15, 0, 0, 123456)
    market = {
        "market": "fr-power",
        "start_date": dt.date(2026, 11, 26),
        "end_date": dt.date(2027, 12, 31),
        "forecasts": ["application", "client"],
        "max_optimisations": 2,
        "active": False,
    }
    stage = {"name": "validate_customer", "state": "failed", "attempts": 3, "error": "boom"}
    view = {
        "id": 7,
        "status": "rejected",
        "kam_email": "kam@acme-energy.example",
        "customer": {
            "company": "A",
            "customer_reference": None,
            "last_name": "L",
            "first_name": "F",
            "phone": "+33123456789",
            "email": "a@b.example",
            "is_demo": True,
        },
        "setup": {"app_access": False, "editor": None},
        "markets": [market, {**market, "active": True, "start_date": None}],
        "stages": [
            {**stage, "started_at": now, "finished_at": now.replace(microsecond=0)},
            {**stage, "error": None, "started_at": None, "finished_at": None},
        ],
        "rejection_reasons": {"customer": ["taken", "again"]},
        "created_at": now,
        "updated_at": now.replace(tzinfo=dt.UTC),
        "links": {"self": "https://crm.example/api/v1/customer-accounts/7"},
        "not_in_the_view": 1,
    }
    schema = AccountViewSchema()
    dump = plain_dumper(schema)
    shapes = [
        view,
        {**view, "markets": [], "rejection_reasons": None, "setup": None},
        {key: value for key, value in view.items() if key not in ("stages", "links")},
        {**view, "markets": [None]},
        # Values of another type than the field's: each converted as marshmallow converts it.
        {**view, "id": True, "markets": [{**market, "max_optimisations": False}], "status": _Text("active")},
    ]
    for shape in shapes:
        assert _typed(dump(shape)) == _typed(schema.dump(shape))  # True is not 1 here, as in JSON
        assert list(dump(shape)) == list(schema.dump(shape))


def _typed(value):
    """`value` with the type of every value beside it, so that equal values of different types differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value), value)


class _Text(str):
    """A str of another class (as an enum's value may be)."""


def test_a_tokens_last_use_is_recorded_to_the_minute(api, org):
    """`kamflow api-token list` shows when each token was last used: the first call records it,
    calls within the next minute leave it (a write per request cost a tenth of the API's
    statements), a call a minute later records it again."""

    def last_used():
        with db.database.connection_context():
            return ApiToken.get(ApiToken.organisation == org["organisation"]).last_used_at

    assert last_used() is None
    assert api.get("/api/v1/markets").status_code == 200
    first = last_used()
    assert first is not None and (utcnow() - first).total_seconds() < 60
    assert api.get("/api/v1/markets").status_code == 200
    assert last_used() == first
    an_hour_ago = first - dt.timedelta(hours=1)
    with db.database.connection_context():
        ApiToken.update(last_used_at=an_hour_ago).where(ApiToken.organisation == org["organisation"]).execute()
    assert api.get("/api/v1/markets").status_code == 200
    assert last_used() > first


def test_another_organisations_account_is_not_found(api, org, client):
    account_id = api.create(account_request()).get_json()["id"]
    with db.database.connection_context():
        other = organisations.create_organisation("rival", "Rival Power", ["fr-power"])
        token = organisations.create_api_token(other, "rival-crm")
    rival = Api(client, token)
    answer = rival.get(f"/api/v1/customer-accounts/{account_id}")
    assert answer.status_code == 404 and answer.is_json
    assert rival.get("/api/v1/customer-accounts").get_json()["total"] == 0


def test_list_filters_by_status_and_paginates_newest_first(api, worker):
    ids = []
    for n in range(3):
        body = account_request(
            **{
                "customer.email": f"c{n}@foundry.example",
                "customer.customer_reference": f"R{n}",
                "setup": {"app_access": False},
            }
        )
        ids.append(api.create(body).get_json()["id"])
    for account_id in ids:
        api.wait_for_status(account_id)
    page1 = api.get("/api/v1/customer-accounts?per_page=2").get_json()
    page2 = api.get("/api/v1/customer-accounts?per_page=2&page=2").get_json()
    assert page1["total"] == 3
    assert [a["id"] for a in page1["items"] + page2["items"]] == sorted(ids, reverse=True)
    assert api.get("/api/v1/customer-accounts?status=active").get_json()["total"] == 3
    assert api.get("/api/v1/customer-accounts?status=rejected").get_json()["total"] == 0
    bad = api.get("/api/v1/customer-accounts?status=sleeping")
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]["query"]


def test_markets_lists_the_catalogue_with_what_the_organisation_offers(api):
    items = {m["id"]: m for m in api.get("/api/v1/markets").get_json()["items"]}
    assert len(items) == 11
    assert items["fr-power"]["offered"] and items["fr-power"]["manager_forecast"]
    assert items["de-gas"]["offered"] and not items["de-gas"]["manager_forecast"]
    assert not items["gb-power"]["offered"]


def test_openapi_document_describes_the_endpoints_from_the_schemas(api):
    spec = api.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/customer-accounts", "/api/v1/customer-accounts/{account_id}", "/api/v1/markets"} <= set(
        spec["paths"]
    )
    request_schema = spec["components"]["schemas"]["AccountRequest"]
    assert set(request_schema["required"]) == {"kam_email", "customer", "setup"}
    assert "202" in spec["paths"]["/api/v1/customer-accounts"]["post"]["responses"]


def test_healthz_needs_no_token(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_the_api_documents_need_a_caller(client, org):
    for path in ("/api/openapi.json", "/api/docs"):
        answer = client.get(path)
        assert answer.status_code == 401 and answer.is_json


def test_the_docs_page_renders_every_endpoint_and_schema_from_the_document(api):
    spec = api.get("/api/openapi.json").get_json()
    page = api.get("/api/docs")
    assert page.status_code == 200
    for path, operations in spec["paths"].items():
        for method in operations:
            if method in ("get", "post", "put", "patch", "delete"):
                assert f"{method.upper()} {path}" in page.text
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text
    assert "Idempotency-Key" in page.text and "webhook-signature" in page.text


def test_idempotency_keys_are_kept_a_day_then_forgotten_by_the_reconciler(api, broker, settings):
    import datetime as dt

    from shared.models import IdempotencyKey, utcnow
    from workers.reconciler import Reconciler

    body = account_request(**{"setup": {"app_access": False}})
    first = api.create(body, headers={"Idempotency-Key": "old"}).get_json()["id"]
    api.create(
        account_request(
            **{
                "customer.email": "x@foundry.example",
                "customer.customer_reference": "X",
                "setup": {"app_access": False},
            }
        ),
        headers={"Idempotency-Key": "fresh"},
    )
    with db.database.connection_context():
        IdempotencyKey.update(created_at=utcnow() - dt.timedelta(hours=25)).where(IdempotencyKey.key == "old").execute()
    broker.client.delete("kamflow:reconciler:lock")
    Reconciler(settings).run_once(broker)
    with db.database.connection_context():
        assert [k.key for k in IdempotencyKey.select()] == ["fresh"]
    replay = api.create(body, headers={"Idempotency-Key": "fresh"})
    assert replay.status_code == 422  # still remembered: another body under a live key
    again = api.create(body, headers={"Idempotency-Key": "old"})
    # Forgotten: a new request, refused because the customer exists, naming the account.
    assert again.status_code == 409 and again.get_json()["existing_account"]["id"] == first


def test_timestamps_say_they_are_utc(api):
    account = api.create(account_request(**{"setup": {"app_access": False}})).get_json()
    assert account["created_at"].endswith("+00:00")


def test_a_customer_login_does_not_open_the_api_documents(client, org):
    from shared import access
    from shared.models import User

    with db.database.connection_context():
        user = User.create(organisation=org["organisation"], email="c@foundry.example", role="customer")
        token = access.issue_set_password_token(user.id, 1)
        access.set_password(token, "a-long-secret-1")
    login = client.get("/login")
    csrf = csrf_token(login.text)
    client.post("/login", data={"csrf_token": csrf, "email": "c@foundry.example", "password": "a-long-secret-1"})
    mine = client.get("/my-account")  # logged in as the customer, whose login no account names yet
    assert mine.status_code == 404 and "No customer account is linked to your login." in mine.text
    assert client.get("/api/docs").status_code == 401


def test_the_document_declares_the_idempotency_key_and_the_location(api):
    operation = api.get("/api/openapi.json").get_json()["paths"]["/api/v1/customer-accounts"]["post"]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["schema"]["maxLength"] == 255
    assert "Location" in operation["responses"]["202"]["headers"]


def test_api_docs_render_the_descriptions_markdown(api):
    """Backticks are code, not literal backticks; raw HTML in a description would be escaped."""
    page = api.get("/api/docs").text
    assert "Accepted: the workflow has started (status <code>pending</code>)." in page
    assert "Resume a <code>failed</code> account from the stage that failed." in page
    assert not re.search(r"`[a-z_]+`", page.split("<body>")[1])  # no raw Markdown left


def test_markdown_of_a_description_cannot_inject_markup():
    from gateway.api.docs import markdown, markdown_inline

    assert str(markdown_inline("<script>x</script> `a`")) == "&lt;script&gt;x&lt;/script&gt; <code>a</code>"
    assert str(markdown("- one\n- two")) == "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"


def test_the_served_document_is_valid_openapi(api):
    from openapi_spec_validator import validate

    spec = api.get("/api/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises, naming the offending part, if not


def test_every_operation_declares_its_errors_typed_and_no_default(api):
    """What a generated client needs: a body for every error, operationIds, enums, headers."""
    spec = api.get("/api/openapi.json").get_json()
    error = {"$ref": "#/components/schemas/Error"}
    operation_ids = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operation_ids.append(operation["operationId"])
            responses = operation["responses"]
            assert "default" not in responses, (method, path)
            assert {"401", "429"} <= set(responses), (method, path)
            assert "Retry-After" in responses["429"]["headers"]
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= set(responses), (method, path)
            if method in ("post", "put", "patch"):  # e.g. retry: a form-encoded body is a 415 there too
                assert {"413", "415"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            for code, response in responses.items():
                if int(code) >= 400:
                    assert response["content"]["application/json"]["schema"] == error, (method, path, code)
    assert len(set(operation_ids)) == len(operation_ids)
    assert {
        "createCustomerAccount",
        "changeCustomerAccount",
        "retryCustomerAccount",
        "resendCredentials",
        "registerWebhook",
    } <= set(operation_ids)
    schemas = spec["components"]["schemas"]
    assert "409" in spec["paths"]["/api/v1/customer-accounts"]["post"]["responses"]
    assert schemas["AccountView"]["properties"]["status"]["enum"][0] == "pending"
    assert "required" not in schemas["CustomerPatch"]  # a phone-only PATCH can be built
    assert [s["$ref"].rsplit("/", 1)[1] for s in schemas["Setup"]["oneOf"]] == ["SetupWithoutAccess", "SetupWithAccess"]
    assert schemas["Customer"]["properties"]["email"]["format"] == "idn-email"
    assert schemas["Customer"]["properties"]["phone"]["pattern"].startswith("^\\+")
    assert set(spec["webhooks"]) == {"account.active", "account.rejected", "account.failed"}
    assert "created_at" in schemas["WebhookEvent"]["required"]


def test_every_format_of_the_document_is_one_clients_know(api):
    """A format a client's validator or generator does not know is no format at all: a URL is a
    `uri` (JSON Schema), not apispec's `url`; `decimal` is the OpenAPI format registry's."""
    import json

    known = {"date", "date-time", "email", "idn-email", "uri", "uuid", "decimal"}
    text = json.dumps(api.get("/api/openapi.json").get_json())
    used = set(re.findall(r'"format": "([^"]+)"', text))
    assert used <= known, used - known
    assert "uri" in used


def test_the_document_allows_an_internationalised_email_the_server_takes(api):
    import jsonschema

    declared = api.get("/api/openapi.json").get_json()["components"]["schemas"]["Customer"]["properties"]["email"]
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    address = "claire@exämple.com"
    assert jsonschema.Draft202012Validator(declared, format_checker=checker).is_valid(address)
    answer = api.create(account_request(**{"customer.email": address, "setup": {"app_access": False}}))
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["customer"]["email"] == address


def test_the_kam_filter_takes_any_email_shaped_value(api):
    """A filter finds what matches: an address no KAM can have finds nothing rather than a 422."""
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    found = api.get("/api/v1/customer-accounts?kam_email=KAM@Acme-Energy.example").get_json()
    assert [a["id"] for a in found["items"]] == [account_id]
    nobody = api.get("/api/v1/customer-accounts?kam_email=someone%40x9bykz1h.test")
    assert nobody.status_code == 200 and nobody.get_json()["total"] == 0
