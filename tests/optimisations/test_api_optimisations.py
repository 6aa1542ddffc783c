"""The CRM API for optimisations: create within the limits, read with the calendar, change,
delete, record and cancel fixings; the editor rule for the token's KAM; other organisations
get 404."""

from __future__ import annotations

import datetime as dt

import pytest
from support import account_request, document_validator

from optimisations.support import DROP, move_window, optimisation_body
from shared import db
from shared.models import CustomerAccount
from shared.optimisations.schemas import MARKET_IS_FIXED

KAM_EDITS = {"setup.editor": "kam"}


def url(account_id, optimisation_id=None):
    base = f"/api/v1/customer-accounts/{account_id}/optimisations"
    return base if optimisation_id is None else f"{base}/{optimisation_id}"


def test_a_post_with_the_required_fields_gets_the_documented_defaults_and_a_calendar(api, make_account):
    account = make_account(**KAM_EDITS)
    answer = api.post(url(account), optimisation_body())
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert answer.headers["Location"] == body["links"]["self"]
    assert body["tariff_indexes"] == ["base"] and body["max_fixings"] == 4 and body["min_share_pct"] == 10
    assert body["forecast"] == "application" and body["notify"] is True
    assert body["notify_recipients"] == ["customer"] and body["editor"] == "kam"
    assert body["window_start"] == dt.date.today().isoformat()
    start = dt.date.fromisoformat(body["delivery_start"] + "-01")
    assert body["window_end"] == (start - dt.timedelta(days=1)).isoformat()
    calendar = body["calendar"]
    assert calendar["available"] is True
    advised = [e for e in calendar["entries"] if e["status"] == "to_do"]
    assert 1 <= len(advised) <= 4
    assert sum(float(e["share_pct"]) for e in advised) == pytest.approx(100)
    assert all(float(e["share_pct"]) >= 10 for e in advised)
    assert sum(float(e["volume_mwh"]) for e in advised) == pytest.approx(1200, abs=0.01)
    assert api.get(url(account)).get_json()["items"][0]["id"] == body["id"]
    assert api.get(body["links"]["self"].replace("http://localhost", "")).get_json()["name"] == "Foundry 2027"


@pytest.mark.parametrize("field", ["market", "name", "delivery_start", "delivery_end", "volume_mwh", "risk_appetite"])
def test_each_required_field_missing_is_named(api, make_account, field):
    account = make_account(**KAM_EDITS)
    answer = api.post(url(account), optimisation_body(**{field: DROP}))
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]["json"]
    assert api.get(url(account)).get_json()["items"] == []


#: (changes to a valid body, the field named in the 422)
BAD_INPUTS = [
    ({"delivery_start": "2027-13"}, "delivery_start"),
    ({"delivery_start": "2027-1"}, "delivery_start"),
    ({"delivery_end": "2027-02-01"}, "delivery_end"),
    ({"delivery_start": 202701}, "delivery_start"),
    # years past LAST_YEAR overflowed the last day of delivery: a 500
    ({"delivery_start": "9999-01", "delivery_end": "9999-12", "window_end": "2030-01-01"}, "delivery_start"),
    ({"delivery_end": "2100-01"}, "delivery_end"),
    ({"delivery_start": "1999-12"}, "delivery_start"),
    ({"delivery_start": "2027-01\n"}, "delivery_start"),  # `$` took a trailing newline
    ({"delivery_start": "\uff12\uff10\uff12\uff17-\uff10\uff11"}, "delivery_start"),  # `\d` full-width digits
    ({"window_start": "20270105"}, "window_start"),  # fromisoformat's basic form
    ({"window_end": "9999-12-31"}, "window_end"),
    ({"delivery_start": "2028-06", "delivery_end": "2028-01"}, "delivery_end"),
    ({"volume_mwh": "-5"}, "volume_mwh"),
    ({"volume_mwh": "NaN"}, "volume_mwh"),
    ({"volume_mwh": "abc"}, "volume_mwh"),
    # Python's Decimal read these as 1200: not numbers anybody wrote
    ({"volume_mwh": "\uff11\uff12\uff10\uff10"}, "volume_mwh"),  # full-width digits
    ({"volume_mwh": "\u0661\u0662\u0660\u0660"}, "volume_mwh"),  # Arabic-Indic digits
    ({"volume_mwh": "1_200"}, "volume_mwh"),
    ({"volume_mwh": "12e2"}, "volume_mwh"),
    ({"volume_mwh": " 1200"}, "volume_mwh"),
    ({"risk_appetite": "reckless"}, "risk_appetite"),
    ({"name": "x" * 201}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"max_fixings": 0}, "max_fixings"),
    ({"max_fixings": "4"}, "max_fixings"),
    ({"min_share_pct": 101}, "min_share_pct"),
    ({"tariff_indexes": ["base", "base"]}, "tariff_indexes"),
    ({"tariff_indexes": ["weekend"]}, "tariff_indexes"),
    ({"window_start": "2027-02-30"}, "window_start"),
    ({"forecast": "oracle"}, "forecast"),
    ({"notify": "yes"}, "notify"),
    ({"notify_recipients": ["cfo"]}, "notify_recipients"),
    ({"market": "mars-power"}, "market"),
    ({"colour": "blue"}, "colour"),
]
#: Those the document cannot refuse: a rule between fields, and a trailing newline (JSON Schema's `$`
#: refuses it, Python's, which the tests' validator uses, does not).
BEYOND_THE_DOCUMENT = [
    ({"delivery_start": "2028-06", "delivery_end": "2028-01"}, "delivery_end"),
    ({"delivery_start": "2027-01\n"}, "delivery_start"),
]


@pytest.mark.parametrize("changes, field", BAD_INPUTS)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(api, make_account, changes, field):
    account = make_account(**KAM_EDITS)
    answer = api.post(url(account), optimisation_body(**changes))
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]["json"]
    assert api.get(url(account)).get_json()["items"] == []


@pytest.mark.parametrize("changes, field", [case for case in BAD_INPUTS if case not in BEYOND_THE_DOCUMENT])
def test_the_document_refuses_each_bad_input_a_field_can_say(api, changes, field):
    """A client holding its body to the document finds out before sending it (months, the years
    of a date, a choice repeated); the body is otherwise valid, its volume a JSON number."""
    declared = document_validator(api, "Optimisation")
    assert declared.is_valid(optimisation_body(volume_mwh=1200))
    assert not declared.is_valid(optimisation_body(**{"volume_mwh": 1200, **changes}))


def test_the_maximum_per_market_is_a_409_naming_the_limit(api, make_account):
    account = make_account(**KAM_EDITS)  # fr-power: at most 2; de-gas: at most 1
    assert api.post(url(account), optimisation_body(name="A")).status_code == 201
    assert api.post(url(account), optimisation_body(name="B")).status_code == 201
    third = api.post(url(account), optimisation_body(name="C"))
    assert third.status_code == 409
    assert "max_optimisations" in third.get_json()["message"] and "at most 2" in third.get_json()["message"]
    gas = api.post(url(account), optimisation_body(market="de-gas", name="Gas"))
    assert gas.status_code == 201  # the limit is per market
    assert len(api.get(url(account)).get_json()["items"]) == 3


def test_only_the_accounts_markets_and_only_forecasts_shared_with_it(api, make_account):
    account = make_account(**KAM_EDITS)
    other_market = api.post(url(account), optimisation_body(market="be-power"))
    assert other_market.status_code == 422 and "market" in other_market.get_json()["errors"]["json"]
    not_shared = api.post(url(account), optimisation_body(market="de-gas", forecast="manager"))
    assert not_shared.status_code == 422
    assert "forecast" in not_shared.get_json()["errors"]["json"]


def test_outside_the_access_window_is_refused_naming_the_date(api, make_account):
    account = make_account(**KAM_EDITS)
    move_window(account, "fr-power", 10, 300)
    before = api.post(url(account), optimisation_body())
    assert before.status_code == 409 and "start_date" in before.get_json()["message"]
    move_window(account, "fr-power", -300, -1)
    after = api.post(url(account), optimisation_body())
    assert after.status_code == 409 and "end_date" in after.get_json()["message"]


def test_case_1_no_access_any_number_on_any_market_of_the_organisation(api, make_account):
    account = make_account(setup={"app_access": False})
    for index in range(5):
        answer = api.post(url(account), optimisation_body(name=f"Site {index}", market="be-power"))
        assert answer.status_code == 201, answer.get_json()
        assert answer.get_json()["notify_recipients"] == ["kam"]
    not_offered = api.post(url(account), optimisation_body(market="gb-power"))
    assert not_offered.status_code == 422 and "offer" in not_offered.get_json()["message"]
    nobody = api.post(url(account), optimisation_body(notify_recipients=["customer"]))
    assert nobody.status_code == 422 and "notify_recipients" in nobody.get_json()["errors"]["json"]


def test_with_the_customer_as_editor_the_token_only_reads(api, make_account):
    account = make_account()  # editor: customer
    refused = api.post(url(account), optimisation_body())
    assert refused.status_code == 403 and "editor" in refused.get_json()["message"]
    assert api.get(url(account)).status_code == 200


def test_patch_changes_parameters_and_the_calendar_follows(api, make_account):
    account = make_account(**KAM_EDITS)
    created = api.post(url(account), optimisation_body(risk_appetite="low", max_fixings=6, min_share_pct=10)).get_json()
    low = [e for e in created["calendar"]["entries"] if e["status"] == "to_do"]
    changed = api.client.patch(
        url(account, created["id"]), json={"risk_appetite": "high", "notify": False}, headers=api.headers
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["risk_appetite"] == "high" and body["notify"] is False and body["name"] == "Foundry 2027"
    high = [e for e in body["calendar"]["entries"] if e["status"] == "to_do"]
    assert len(low) > len(high) and len(high) <= 2
    market = api.client.patch(url(account, created["id"]), json={"market": "de-gas"}, headers=api.headers)
    assert market.status_code == 422 and "market" in market.get_json()["errors"]["json"]
    bad = api.client.patch(url(account, created["id"]), json={"delivery_end": "2000-01"}, headers=api.headers)
    assert bad.status_code == 422 and "delivery_end" in bad.get_json()["errors"]["json"]


def test_the_patch_body_has_no_market_since_it_never_changes(api, make_account):
    """A PATCH body is what a change needs: the document does not offer the market, and the
    server refuses it, even unchanged, naming why (as it does the email of an account)."""
    schemas = api.get("/api/openapi.json").get_json()["components"]["schemas"]
    assert "market" in schemas["Optimisation"]["properties"]
    assert "market" not in schemas["OptimisationChange"]["properties"]
    account = make_account(**KAM_EDITS)
    created = api.post(url(account), optimisation_body()).get_json()
    for market in ("fr-power", "de-gas"):
        answer = api.client.patch(
            url(account, created["id"]), json={"market": market, "name": "Renamed"}, headers=api.headers
        )
        assert answer.status_code == 422, answer.get_json()
        assert answer.get_json()["errors"]["json"] == {"market": [MARKET_IS_FIXED]}
    assert api.get(url(account, created["id"])).get_json()["name"] == "Foundry 2027"


def test_fixings_recorded_and_cancelled_adjust_the_calendar(api, make_account):
    account = make_account(**KAM_EDITS)
    created = api.post(
        url(account),
        optimisation_body(
            risk_appetite="low",
            max_fixings=4,
            min_share_pct=20,
            window_start=(dt.date.today() - dt.timedelta(days=10)).isoformat(),
        ),
    ).get_json()
    fixings = url(account, created["id"]) + "/fixings"
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    too_small = api.post(fixings, {"fixed_on": yesterday, "price": "84.10", "share_pct": "15"})
    assert too_small.status_code == 422 and "share_pct" in too_small.get_json()["errors"]["json"]
    future = api.post(
        fixings, {"fixed_on": (dt.date.today() + dt.timedelta(days=3)).isoformat(), "price": "84", "share_pct": "30"}
    )
    assert future.status_code == 422 and "fixed_on" in future.get_json()["errors"]["json"]
    leaves_too_little = api.post(fixings, {"fixed_on": yesterday, "price": "84", "share_pct": "90"})
    assert leaves_too_little.status_code == 422
    recorded = api.post(fixings, {"fixed_on": yesterday, "price": "84.10", "share_pct": "40"})
    assert recorded.status_code == 201, recorded.get_json()
    body = recorded.get_json()
    entries = body["calendar"]["entries"]
    assert entries[0] == {**entries[0], "status": "fixed", "date": yesterday, "share_pct": "40.00"}
    advised = [e for e in entries if e["status"] == "to_do"]
    assert len(advised) <= 3 and sum(float(e["share_pct"]) for e in advised) == pytest.approx(60)
    fixing_id = body["fixings"][0]["id"]
    cancelled = api.client.patch(f"{fixings}/{fixing_id}", json={"status": "cancelled"}, headers=api.headers)
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert body["fixings"][0]["status"] == "cancelled"
    assert sum(float(e["share_pct"]) for e in body["calendar"]["entries"] if e["status"] == "to_do") == pytest.approx(
        100
    )
    wrong = api.client.patch(f"{fixings}/{fixing_id}", json={"status": "fixed"}, headers=api.headers)
    assert wrong.status_code == 422


def test_delete_frees_the_place_under_the_maximum(api, make_account):
    account = make_account(**KAM_EDITS)
    ids = [api.post(url(account), optimisation_body(name=n)).get_json()["id"] for n in "AB"]
    assert api.client.delete(url(account, ids[0]), headers=api.headers).status_code == 204
    assert api.get(url(account, ids[0])).status_code == 404
    assert api.post(url(account), optimisation_body(name="C")).status_code == 201


def test_another_organisation_gets_404_everywhere(api, make_account, other_org_api):
    account = make_account(**KAM_EDITS)
    created = api.post(url(account), optimisation_body()).get_json()
    one = url(account, created["id"])
    assert other_org_api.get(url(account)).status_code == 404
    assert other_org_api.get(one).status_code == 404
    assert other_org_api.post(url(account), optimisation_body()).status_code == 404
    assert other_org_api.client.patch(one, json={"name": "x"}, headers=other_org_api.headers).status_code == 404
    assert other_org_api.client.delete(one, headers=other_org_api.headers).status_code == 404
    assert api.get(one).get_json()["name"] == "Foundry 2027"


def test_optimisations_are_in_the_openapi_document(api):
    spec = api.get("/api/openapi.json").get_json()
    path = spec["paths"]["/api/v1/customer-accounts/{account_id}/optimisations"]
    assert set(path) >= {"get", "post"}
    one = spec["paths"]["/api/v1/customer-accounts/{account_id}/optimisations/{optimisation_id}"]
    assert set(one) >= {"get", "patch", "delete"}
    schema = spec["components"]["schemas"]["Optimisation"]
    assert set(schema["required"]) == {
        "market",
        "name",
        "delivery_start",
        "delivery_end",
        "volume_mwh",
        "risk_appetite",
    }
    assert schema["properties"]["risk_appetite"]["enum"] == ["low", "moderate", "high"]


def test_a_patch_to_a_month_past_the_last_year_is_a_422_and_changes_nothing(api, make_account):
    account = make_account(**KAM_EDITS)
    created = api.post(url(account), optimisation_body()).get_json()
    for patch in (
        {"delivery_start": "9999-01", "delivery_end": "9999-12", "window_end": "2030-01-01"},
        {"delivery_end": "9999-12"},
    ):
        answer = api.client.patch(url(account, created["id"]), json=patch, headers=api.headers)
        assert answer.status_code == 422, answer.get_json()
        errors = answer.get_json()["errors"]["json"]
        assert "from 2000-01 to 2099-12" in " ".join(errors["delivery_end"])
    stored = api.get(url(account, created["id"])).get_json()
    assert (stored["delivery_start"], stored["delivery_end"]) == (created["delivery_start"], created["delivery_end"])


def test_an_error_names_the_field_at_fault_among_those_sent(api, make_account):
    # A delivery in the past was refused on window_end, which the caller had not sent; a PATCH of
    # window_start or delivery_start was refused on the stored window_end or delivery_end.
    account = make_account(**KAM_EDITS)
    body = optimisation_body()
    delivery_end = dt.date.fromisoformat(body["delivery_end"] + "-01")
    after_delivery = (delivery_end + dt.timedelta(days=40)).isoformat()
    for changes, field in [
        ({"delivery_start": "2001-01", "delivery_end": "2001-12"}, "delivery_end"),
        ({"window_start": after_delivery}, "window_start"),
    ]:
        answer = api.post(url(account), optimisation_body(**changes))
        assert answer.status_code == 422, answer.get_json()
        assert set(answer.get_json()["errors"]["json"]) == {field}, (changes, answer.get_json())
    assert api.get(url(account)).get_json()["items"] == []
    created = api.post(url(account), body).get_json()
    for patch, field in [
        ({"window_start": after_delivery}, "window_start"),
        ({"delivery_start": f"{delivery_end.year + 1}-01"}, "delivery_start"),
        ({"delivery_end": "2001-01"}, "delivery_end"),
    ]:
        answer = api.client.patch(url(account, created["id"]), json=patch, headers=api.headers)
        assert answer.status_code == 422, answer.get_json()
        assert set(answer.get_json()["errors"]["json"]) == {field}, (patch, answer.get_json())
    assert api.get(url(account, created["id"])).get_json()["updated_at"] == created["updated_at"]


def test_a_pending_account_takes_no_optimisation(api):
    """No worker: the request stays pending, its limits not checked yet: 409 saying why."""
    account = api.create(account_request(**KAM_EDITS)).get_json()["id"]
    answer = api.post(url(account), optimisation_body())
    assert answer.status_code == 409
    assert answer.get_json()["message"].startswith("The account is pending, not active: optimisations can be created")
    assert api.get(url(account)).get_json()["items"] == []


def test_a_rejected_account_takes_no_optimisation(api, worker):
    body = account_request(**KAM_EDITS)
    body["setup"]["markets"][0]["market"] = "gb-power"  # not offered by the organisation: rejected
    account = api.create(body).get_json()["id"]
    assert api.wait_for_status(account)["status"] == "rejected"
    answer = api.post(url(account), optimisation_body(market="de-gas"))
    assert answer.status_code == 409
    assert "rejected, which is final" in answer.get_json()["message"]
    assert api.get(url(account)).get_json()["items"] == []


def test_while_the_account_is_not_active_its_optimisations_and_fixings_do_not_change(api, make_account):
    account = make_account(**KAM_EDITS)
    created = api.post(
        url(account), optimisation_body(window_start=(dt.date.today() - dt.timedelta(days=10)).isoformat())
    ).get_json()
    with db.database.connection_context():  # as a change of parameters running its stages again
        CustomerAccount.update(status="activating").where(CustomerAccount.id == account).execute()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    refused = [
        api.post(url(account), optimisation_body(name="Another")),
        api.client.patch(url(account, created["id"]), json={"risk_appetite": "high"}, headers=api.headers),
        api.post(url(account, created["id"]) + "/fixings", {"fixed_on": yesterday, "price": "84", "share_pct": "25"}),
    ]
    for answer in refused:
        assert answer.status_code == 409, answer.get_json()
        assert "The account is activating, not active" in answer.get_json()["message"]
    (kept,) = api.get(url(account)).get_json()["items"]
    assert kept["risk_appetite"] == "moderate" and kept["fixings"] == []
    # Deleting stays the editor's, whatever the status (it was refused as "the customer edits")
    assert api.client.delete(url(account, created["id"]), headers=api.headers).status_code == 204
    assert api.get(url(account)).get_json()["items"] == []


def test_outside_the_access_window_an_optimisation_no_longer_changes(api, make_account):
    """Made while fr-power was open; once its end date has passed (the trial or the period over),
    parameters, notifications and fixings no longer change, as no optimisation is created: a
    409 naming end_date, nothing written; the optimisation stays readable and can be deleted.
    The same before the start date (the customer has the application without the information)."""
    account = make_account(**KAM_EDITS)
    made = api.post(url(account), optimisation_body(window_start=(dt.date.today() - dt.timedelta(days=20)).isoformat()))
    assert made.status_code == 201, made.get_json()
    one = f"{url(account)}/{made.get_json()['id']}"
    fixed = api.post(f"{one}/fixings", {"fixed_on": dt.date.today().isoformat(), "price": "80", "share_pct": "20"})
    assert fixed.status_code == 201, fixed.get_json()
    fixing_id = fixed.get_json()["fixings"][0]["id"]
    for start, end, limit in ((-300, -1, "end_date"), (10, 300, "start_date")):
        move_window(account, "fr-power", start, end)
        for answer in (
            api.client.patch(one, json={"risk_appetite": "high"}, headers=api.headers),
            api.client.patch(one, json={"notify": False}, headers=api.headers),
            api.post(f"{one}/fixings", {"fixed_on": dt.date.today().isoformat(), "price": "80", "share_pct": "20"}),
            api.client.patch(f"{one}/fixings/{fixing_id}", json={"status": "cancelled"}, headers=api.headers),
        ):
            assert answer.status_code == 409, answer.get_json()
            assert limit in answer.get_json()["message"]
        stored = api.get(one).get_json()
        assert stored["risk_appetite"] == "moderate" and stored["notify"] is True
        assert [f["status"] for f in stored["fixings"]] == ["fixed"]
    assert api.client.delete(one, headers=api.headers).status_code == 204


def _record_fixing_with(api, make_account, field, value):
    """A fixing recorded on a new optimisation of a KAM-edited account, `field` sent as `value`:
    the optimisation's URL, the body sent and the answer."""
    account = make_account(**KAM_EDITS)
    made = api.post(url(account), optimisation_body(window_start=(dt.date.today() - dt.timedelta(days=5)).isoformat()))
    one = url(account, made.get_json()["id"])
    body = {"fixed_on": dt.date.today().isoformat(), "price": "80", "share_pct": "20", field: value}
    return one, body, api.post(f"{one}/fixings", body)


@pytest.mark.parametrize("field, value", [("price", "\uff18\uff10"), ("price", "8e1"), ("share_pct", "1_0")])
def test_a_fixing_number_not_written_with_digits_and_a_dot_is_refused_by_its_field(api, make_account, field, value):
    one, body, answer = _record_fixing_with(api, make_account, field, value)
    assert answer.status_code == 422, answer.get_json()
    assert "digits with a dot for decimals" in answer.get_json()["errors"]["json"][field][0]
    assert api.get(one).get_json()["fixings"] == []
    assert api.post(f"{one}/fixings", {**body, field: {"price": "80.5", "share_pct": "10.5"}[field]}).status_code == 201


def test_the_fixing_window_stays_inside_the_markets_access_window(api, make_account):
    """fr-power's access ends in 60 days, delivery starts in about 200: a window end sent past the
    end date is refused by its field, saying the date; left to its default it ends on the end
    date (advice after it would never reach the customer); a PATCH is held the same way. Without
    access (Case 1) there is no end date to hold it to."""
    today = dt.date.today()
    account = make_account(**KAM_EDITS)
    move_window(account, "fr-power", -10, 60)
    end = (today + dt.timedelta(days=60)).isoformat()
    for field in ("window_end", "window_start"):
        late = api.post(url(account), optimisation_body(**{field: (today + dt.timedelta(days=61)).isoformat()}))
        assert late.status_code == 422, late.get_json()
        assert f"market's end date ({end})" in late.get_json()["errors"]["json"][field][0]
        assert "end_date" in late.get_json()["message"]
    assert api.get(url(account)).get_json()["items"] == []
    made = api.post(url(account), optimisation_body())
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["window_end"] == end
    one = url(account, made.get_json()["id"])
    moved = api.client.patch(one, json={"window_end": (today + dt.timedelta(days=90)).isoformat()}, headers=api.headers)
    assert moved.status_code == 422 and "window_end" in moved.get_json()["errors"]["json"]
    assert api.get(one).get_json()["window_end"] == end
    free = make_account(
        setup={"app_access": False}, **{"customer.email": "x@foundry.example", "customer.customer_reference": "FR-9"}
    )
    case_1 = api.post(url(free), optimisation_body())
    assert case_1.status_code == 201 and case_1.get_json()["window_end"] > end


@pytest.mark.parametrize(
    "field, value, places",
    [("share_pct", "100.004", 2), ("share_pct", 33.333, 2), ("price", "84.123456", 4), ("price", 84.00001, 4)],
)
def test_a_fixing_number_more_precise_than_kept_is_refused_not_rounded(api, make_account, field, value, places):
    """100.004 % was rounded to 100.00 and accepted; a price was stored as another than sent."""
    one, body, answer = _record_fixing_with(api, make_account, field, value)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors"]["json"][field] == [f"Give at most {places} decimal places."]
    assert api.get(one).get_json()["fixings"] == []
    kept = api.post(f"{one}/fixings", {**body, field: {"price": "84.1200000", "share_pct": "33.330"}[field]})
    assert kept.status_code == 201, kept.get_json()  # trailing zeros say nothing more precise


def test_an_optimisation_volume_more_precise_than_kept_is_refused(api, make_account):
    account = make_account(**KAM_EDITS)
    answer = api.post(url(account), optimisation_body(volume_mwh="1200.0005"))
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors"]["json"]["volume_mwh"] == ["Give at most 3 decimal places."]
    assert api.get(url(account)).get_json()["items"] == []
