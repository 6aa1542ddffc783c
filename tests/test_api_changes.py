"""The rest of the v1 contract: PATCH parameters, retry, resend credentials, list filters."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from support import BAD_PHONES, PASSWORD, account_request, set_password_link, wait_drained, wait_until

from shared import db, organisations, queues, workflow
from shared.models import MarketAccess

pytestmark = pytest.mark.usefixtures("worker")


def patch(api, account_id, body):
    return api.client.patch(f"/api/v1/customer-accounts/{account_id}", json=body, headers=api.headers)


def no_access_account(api, n=0) -> int:
    body = account_request(
        **{
            "customer.email": f"c{n}@foundry.example",
            "customer.customer_reference": f"R{n}",
            "setup": {"app_access": False},
        }
    )
    account_id = api.create(body).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    return account_id


def test_patching_the_email_is_refused(api):
    account_id = no_access_account(api)
    answer = patch(api, account_id, {"customer": {"email": "new@foundry.example"}})
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"]["customer"]["email"] == [
        "The email cannot be modified: it is the customer's login."
    ]
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["customer"]["email"] == "c0@foundry.example"


def test_patching_contact_details_changes_them_and_runs_no_stage(api, redis_client):
    account_id = no_access_account(api)
    wait_drained(redis_client)
    before = api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["stages"]
    answer = patch(api, account_id, {"customer": {"phone": "+49 30 901820", "company": "Martin Foundry GmbH"}})
    assert answer.status_code == 200
    account = answer.get_json()
    assert account["customer"]["phone"] == "+4930901820" and account["customer"]["company"] == "Martin Foundry GmbH"
    wait_drained(redis_client)  # a re-run the patch had started would have shown by now
    after = api.get(f"/api/v1/customer-accounts/{account_id}").get_json()
    assert after["status"] == "active"
    assert after["stages"] == before


def test_giving_access_later_provisions_activates_and_sends_credentials(api, mailbox):
    account_id = no_access_account(api)
    today = dt.date.today()
    setup = {
        "app_access": True,
        "editor": "kam",
        "markets": [
            {
                "market": "fr-gas",
                "end_date": (today + dt.timedelta(days=90)).isoformat(),
                "forecasts": ["application"],
                "max_optimisations": 3,
            }
        ],
    }
    answer = patch(api, account_id, {"setup": setup})
    assert answer.status_code == 200
    account = api.wait_for_status(account_id)
    assert account["status"] == "active"
    assert {s["name"]: s["state"] for s in account["stages"]} == {
        "validate_customer": "done",
        "provision_access": "done",
        "activate_markets": "done",
        "send_credentials": "done",
    }
    assert account["markets"][0]["market"] == "fr-gas" and account["markets"][0]["active"]
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "c0@foundry.example"


def test_a_patch_that_does_not_fit_the_organisation_is_refused_and_changes_nothing(api):
    account_id = no_access_account(api)
    today = dt.date.today()
    setup = {
        "app_access": True,
        "editor": "kam",
        "markets": [
            {
                "market": "gb-power",
                "end_date": (today + dt.timedelta(days=90)).isoformat(),
                "forecasts": ["application"],
                "max_optimisations": 1,
            }
        ],
    }
    answer = patch(api, account_id, {"setup": setup})
    assert answer.status_code == 422
    assert "does not offer" in answer.get_json()["errors"]["json"]["setup"]["markets"]["0"]["market"][0]
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["setup"]["app_access"] is False


def test_a_malformed_patch_names_the_field(api):
    account_id = no_access_account(api)
    answer = patch(
        api,
        account_id,
        {
            "setup": {
                "app_access": True,
                "editor": "kam",
                "markets": [
                    {"market": "fr-power", "end_date": "2020-01-01", "forecasts": ["client"], "max_optimisations": 0}
                ],
            }
        },
    )
    assert answer.status_code == 422
    market_errors = answer.get_json()["errors"]["json"]["setup"]["markets"]["0"]
    assert set(market_errors) == {"end_date", "forecasts", "max_optimisations"}


def test_retry_endpoint_resumes_a_failed_account_and_refuses_an_active_one(api, mailbox, redis_client):
    mailbox.refuse_next(3)
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    dead = queues.dead_key("send_credentials")
    # the give-up's message reaches the dead-letter set
    wait_until(lambda: redis_client.zcard(dead), 10, "no dead letter for the failed stage", interval=0.05)
    answer = api.post(f"/api/v1/customer-accounts/{account_id}/retry")
    assert answer.status_code == 202
    assert redis_client.zcard(dead) == 0  # the operator's to-do is done, as with /ops and the CLI
    assert api.wait_for_status(account_id)["status"] == "active"
    again = api.post(f"/api/v1/customer-accounts/{account_id}/retry")
    assert again.status_code == 409 and "not failed" in again.get_json()["message"]


def test_resend_credentials_sends_a_new_link_and_voids_the_old(api, client, mailbox):
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    first = mailbox.wait_for(1)[0]
    answer = api.post(f"/api/v1/customer-accounts/{account_id}/resend-credentials")
    assert answer.status_code == 202
    assert api.wait_for_status(account_id)["status"] == "active"
    messages = mailbox.wait_for(2)
    assert len(messages) == 2

    assert set_password_link(messages[0]) != set_password_link(messages[1])
    assert client.get(set_password_link(first)).status_code == 410
    assert client.get(set_password_link(messages[1])).status_code == 200


def test_resend_for_an_account_without_access_is_refused(api):
    account_id = no_access_account(api)
    answer = api.post(f"/api/v1/customer-accounts/{account_id}/resend-credentials")
    assert answer.status_code == 409 and "no access" in answer.get_json()["message"]


def test_unknown_account_answers_404_on_every_verb(api):
    assert api.get("/api/v1/customer-accounts/999").status_code == 404
    assert patch(api, 999, {"customer": {"company": "X"}}).status_code == 404
    assert api.post("/api/v1/customer-accounts/999/retry").status_code == 404
    assert api.post("/api/v1/customer-accounts/999/resend-credentials").status_code == 404


def test_list_filters_by_demo_kam_and_updated_since(api, org):
    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], "kam2@acme-energy.example", "kam", PASSWORD)
    first = no_access_account(api, 0)
    time.sleep(0.05)
    since = dt.datetime.now(dt.UTC).isoformat()
    demo = account_request(
        **{
            "customer.email": "d@foundry.example",
            "customer.customer_reference": "D",
            "customer.is_demo": True,
            "kam_email": "kam2@acme-energy.example",
            "setup": {"app_access": False},
        }
    )
    second = api.create(demo).get_json()["id"]
    api.wait_for_status(second)

    def ids(query):
        answer = api.get(f"/api/v1/customer-accounts?{query}")
        assert answer.status_code == 200, answer.get_json()
        return [a["id"] for a in answer.get_json()["items"]]

    assert ids("is_demo=true") == [second]
    assert ids("is_demo=false") == [first]
    assert ids("kam_email=kam2@acme-energy.example") == [second]
    assert ids(f"updated_since={since.replace('+', '%2B')}") == [second]
    bad = api.get("/api/v1/customer-accounts?updated_since=yesterday")
    assert bad.status_code == 422 and "updated_since" in bad.get_json()["errors"]["query"]


def test_a_rejected_account_is_final_for_changes_and_resends(api):
    body = account_request(**{"setup.markets.1.forecasts": ["manager"]})
    account_id = api.create(body).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "rejected"
    answer = patch(api, account_id, {"customer": {"phone": "+33 6 00 00 00 01"}})
    assert answer.status_code == 409 and answer.get_json()["message"] == workflow.REJECTED_IS_FINAL
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["customer"]["phone"] == "+33123456789"
    resend = api.post(f"/api/v1/customer-accounts/{account_id}/resend-credentials")
    assert resend.status_code == 409 and resend.get_json()["message"] == workflow.REJECTED_IS_FINAL


def audit_actions(account_id: int) -> list[str]:
    with db.database.connection_context():
        from shared.models import AuditEvent

        return [e.action for e in AuditEvent.select().where(AuditEvent.account == account_id).order_by(AuditEvent.id)]


def test_a_patch_leaves_the_fields_it_does_not_name_alone(api):
    # A PATCH of the phone loaded the left-out customer_reference as its creation default (null):
    # the reference was wiped and its claim released, so another account could take it.
    account_id = no_access_account(api)
    answer = patch(api, account_id, {"customer": {"phone": "+49 30 901820"}})
    assert answer.status_code == 200
    customer = answer.get_json()["customer"]
    assert customer["phone"] == "+4930901820" and customer["customer_reference"] == "R0"
    before = audit_actions(account_id)
    assert patch(api, account_id, {"customer": {}}).status_code == 200
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["customer"]["customer_reference"] == "R0"
    assert audit_actions(account_id) == before  # nothing changed, nothing recorded
    # the claim is still held: another account cannot take the reference
    other = account_request(**{"customer.email": "o@foundry.example", "customer.customer_reference": "R0"})
    assert api.create(other).status_code == 409


def test_an_explicit_null_or_blank_reference_still_clears_it(api):
    account_id = no_access_account(api)
    answer = patch(api, account_id, {"customer": {"customer_reference": None}})
    assert answer.status_code == 200 and answer.get_json()["customer"]["customer_reference"] is None
    assert patch(api, account_id, {"customer": {"customer_reference": "R9"}}).status_code == 200
    answer = patch(api, account_id, {"customer": {"customer_reference": "  "}})
    assert answer.status_code == 200 and answer.get_json()["customer"]["customer_reference"] is None


def test_the_patch_bodies_of_the_document_promise_no_default_and_require_nothing(api):
    schemas = api.get("/api/openapi.json").get_json()["components"]["schemas"]
    for name in ("CustomerPatch", "OptimisationChange"):
        properties = schemas[name]["properties"]
        assert {field for field, spec in properties.items() if "default" in spec} == set(), name
        assert "required" not in schemas[name], name


def test_a_patch_cannot_take_a_reference_another_account_holds_and_answers_as_create_does(api):
    holder = no_access_account(api, 0)  # holds R0
    without = api.create(
        account_request(**{"customer.email": "w@foundry.example", "customer.customer_reference": None})
    ).get_json()["id"]
    with_own = no_access_account(api, 1)  # holds R1
    for account_id in (without, with_own):
        before = audit_actions(account_id)
        answer = patch(api, account_id, {"customer": {"customer_reference": "R0", "company": "Taken Ltd"}})
        assert answer.status_code == 409, answer.get_json()
        body = answer.get_json()
        assert "customer_reference" in body["errors"]["json"]["customer"]
        assert body["existing_account"]["id"] == holder
        assert body["existing_account"]["links"]["self"].endswith(f"/api/v1/customer-accounts/{holder}")
        assert f"Customer account {holder}" in body["message"]
        assert audit_actions(account_id) == before  # nothing written
        assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["customer"]["company"] != "Taken Ltd"


def test_an_account_made_without_a_reference_claims_the_one_a_patch_gives_it(api):
    body = account_request(**{"customer.email": "w@foundry.example", "customer.customer_reference": None})
    account_id = api.create({**body, "setup": {"app_access": False}}).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    assert patch(api, account_id, {"customer": {"customer_reference": "NEW-1"}}).status_code == 200
    other = api.create(
        account_request(**{"customer.email": "o@foundry.example", "customer.customer_reference": "NEW-1"})
    )
    assert other.status_code == 409
    assert other.get_json()["existing_account"]["id"] == account_id


def test_giving_access_when_the_email_became_a_login_is_a_409_like_create(api, org):
    account_id = no_access_account(api)
    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], "c0@foundry.example", "kam", PASSWORD)
    before = audit_actions(account_id)
    answer = patch(api, account_id, {"setup": account_request()["setup"]})
    assert answer.status_code == 409, answer.get_json()
    body = answer.get_json()
    assert body["errors"]["json"]["setup"]["app_access"] and "existing_account" not in body
    assert audit_actions(account_id) == before
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["setup"]["app_access"] is False


def test_a_patch_holds_the_phone_to_the_rules_of_create(api):
    account_id = no_access_account(api)
    before = audit_actions(account_id)
    for phone, why in BAD_PHONES:
        answer = patch(api, account_id, {"customer": {"phone": phone}})
        assert answer.status_code == 422, (phone, answer.get_json())
        assert why in " ".join(answer.get_json()["errors"]["json"]["customer"]["phone"]), phone
    assert audit_actions(account_id) == before
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["customer"]["phone"] == "+33123456789"


def test_a_market_sent_without_its_start_date_keeps_the_stored_one(api):
    # The whole setup of a PATCH loaded a left-out start_date as today: an existing market's
    # access moved to start today, which nobody had sent.
    today = dt.date.today()
    later = (today + dt.timedelta(days=10)).isoformat()
    account_id = api.create(account_request(**{"setup.markets.0.start_date": later})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    setup = account_request()["setup"]
    del setup["markets"][0]["start_date"]
    setup["markets"][0]["max_optimisations"] = 3
    setup["markets"].append(
        {"market": "fr-gas", "end_date": later, "forecasts": ["application"], "max_optimisations": 1}
    )
    answer = patch(api, account_id, {"setup": setup})
    assert answer.status_code == 200, answer.get_json()
    markets = {m["market"]: m for m in answer.get_json()["markets"]}
    assert markets["fr-power"]["start_date"] == later and markets["fr-power"]["max_optimisations"] == 3
    assert markets["fr-gas"]["start_date"] == today.isoformat()  # a new market: today, as on create
    api.wait_for_status(account_id)
    before = audit_actions(account_id)
    setup["markets"][0]["end_date"] = (today + dt.timedelta(days=5)).isoformat()  # before the kept start
    answer = patch(api, account_id, {"setup": setup})
    assert answer.status_code == 422, answer.get_json()
    assert "end_date" in answer.get_json()["errors"]["json"]["setup"]["markets"]["0"]
    assert audit_actions(account_id) == before


def test_a_patch_repeating_an_ended_market_is_accepted_and_a_new_past_end_date_is_not(api):
    """The end date of an access that has ended is in the past: sending the stored set-up back
    (with a new maximum) must work; setting an end date in the past is refused by its field."""
    account_id = api.create(account_request(**{"setup.editor": "kam"})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    today = dt.date.today()
    with db.database.connection_context():
        MarketAccess.update(start_date=today - dt.timedelta(days=60), end_date=today - dt.timedelta(days=1)).where(
            (MarketAccess.account == account_id) & (MarketAccess.market == "de-gas")
        ).execute()
    stored = api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["markets"]
    markets = [
        {key: market[key] for key in ("market", "start_date", "end_date", "forecasts", "max_optimisations")}
        for market in stored
    ]
    for market in markets:
        market["max_optimisations"] += 1
    answer = patch(api, account_id, {"setup": {"app_access": True, "editor": "kam", "markets": markets}})
    assert answer.status_code == 200, answer.get_json()
    assert {m["market"]: m["max_optimisations"] for m in answer.get_json()["markets"]} == {"fr-power": 3, "de-gas": 2}
    index = [m["market"] for m in markets].index("de-gas")
    markets[index]["end_date"] = (today - dt.timedelta(days=2)).isoformat()
    answer = patch(api, account_id, {"setup": {"app_access": True, "editor": "kam", "markets": markets}})
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"]["setup"]["markets"][str(index)] == {
        "end_date": ["Must not be in the past."]
    }
    ends = {
        m["market"]: m["end_date"] for m in api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["markets"]
    }
    assert ends["de-gas"] == (today - dt.timedelta(days=1)).isoformat()
