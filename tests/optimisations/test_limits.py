"""The limits the KAM set, at the level of shared/: who edits, Case 1 and Case 2, the access
window (before: listed without information; after: frozen), and no orphans when limits change."""

from __future__ import annotations

import datetime as dt

import pytest
from marshmallow import ValidationError

from optimisations.support import move_window, optimisation_body
from shared import db, parameters
from shared.models import CustomerAccount
from shared.optimisations import editing, limits, reading
from shared.optimisations.schemas import OptimisationSchema

TODAY = dt.date.today()


def load(**changes):
    return OptimisationSchema().load(optimisation_body(**changes))


def account(account_id) -> CustomerAccount:
    return CustomerAccount.get_by_id(account_id)


@pytest.mark.parametrize(
    "editor, allowed, refused", [("kam", limits.KAM, limits.CUSTOMER), ("customer", limits.CUSTOMER, limits.KAM)]
)
def test_only_the_editor_inserts_modifies_and_records(make_account, editor, allowed, refused):
    account_id = make_account(**{"setup.editor": editor})
    with db.database.connection_context():
        with pytest.raises(limits.Refused) as denied:
            editing.create(account(account_id), load(), refused, "someone", TODAY)
        assert denied.value.status == 403 and denied.value.limit == "editor"
        optimisation = editing.create(account(account_id), load(), allowed, "editor", TODAY)
        for action in (
            lambda side: editing.change(optimisation, {"notify": False}, side, "x", TODAY),
            lambda side: editing.record_fixing(
                optimisation, {"fixed_on": TODAY, "price": 80, "share_pct": 50}, side, "x", TODAY
            ),
            lambda side: editing.delete(optimisation, side, "x"),
        ):
            with pytest.raises(limits.Refused):
                action(refused)
        # both sides always see the calendar
        for side in (limits.KAM, limits.CUSTOMER):
            assert reading.calendar_for(optimisation, side, TODAY)["available"] is True


def test_case_1_kam_edits_without_limit_on_any_offered_market(make_account):
    account_id = make_account(setup={"app_access": False})
    with db.database.connection_context():
        for market in ("fr-power", "fr-power", "fr-power", "nl-gas", "be-power"):
            editing.create(account(account_id), load(market=market), limits.KAM, "kam", TODAY)
        assert limits.count_on(account(account_id), "fr-power") == 3
        with pytest.raises(limits.Refused) as refused:
            limits.check_create(account(account_id), "gb-gas", limits.KAM, TODAY)
        assert refused.value.limit == "markets"


def test_case_2_before_start_listed_without_information_after_end_frozen(make_account):
    account_id = make_account()
    with db.database.connection_context():
        optimisation = editing.create(
            account(account_id),
            load(window_start=(TODAY - dt.timedelta(days=20)).isoformat()),
            limits.CUSTOMER,
            "claire",
            TODAY,
        )
        move_window(account_id, "fr-power", 5, 100)
        before = reading.calendar_for(optimisation, limits.CUSTOMER, TODAY)
        assert before["available"] is False and before["entries"] == [] and "not started" in before["note"]
        assert reading.calendar_for(optimisation, limits.KAM, TODAY)["available"] is True
        with pytest.raises(limits.Refused) as refused:
            limits.check_create(account(account_id), "fr-power", limits.CUSTOMER, TODAY)
        assert refused.value.limit == "start_date"
        with pytest.raises(limits.Refused):
            limits.may_upload_client_forecast(account(account_id), "fr-power", TODAY)
        move_window(account_id, "fr-power", -30, -10)
        after = reading.calendar_for(optimisation, limits.CUSTOMER, TODAY)
        assert after["available"] is True and after["frozen_at"] == TODAY - dt.timedelta(days=10)
        assert all(e["date"] >= TODAY - dt.timedelta(days=10) for e in after["entries"])
        assert "ended" in after["note"]
        with pytest.raises(limits.Refused) as refused:
            limits.may_upload_client_forecast(account(account_id), "fr-power", TODAY)
        assert refused.value.limit == "end_date"


def test_recorded_fixings_must_still_fit_changed_parameters(make_account):
    account_id = make_account(**{"setup.editor": "kam"})
    with db.database.connection_context():
        optimisation = editing.create(
            account(account_id),
            load(window_start=(TODAY - dt.timedelta(days=5)).isoformat(), min_share_pct=10),
            limits.KAM,
            "kam",
            TODAY,
        )
        editing.record_fixing(optimisation, {"fixed_on": TODAY, "price": 80, "share_pct": 15}, limits.KAM, "kam", TODAY)
        with pytest.raises(ValidationError) as invalid:
            editing.change(optimisation, {"min_share_pct": 20}, limits.KAM, "kam", TODAY)
        assert "min_share_pct" in invalid.value.messages


def setup_with(max_fr=2, markets=("fr-power", "de-gas"), access=True):
    rows = [
        {
            "market": m,
            "start_date": TODAY,
            "end_date": TODAY + dt.timedelta(days=100),
            "forecasts": ["application"],
            "max_optimisations": max_fr if m == "fr-power" else 1,
        }
        for m in markets
    ]
    return {"app_access": access, "editor": "kam", "markets": rows} if access else {"app_access": False}


def test_changing_limits_never_leaves_orphans(make_account):
    account_id = make_account(**{"setup.editor": "kam"})
    with db.database.connection_context():
        for name in "AB":
            editing.create(account(account_id), load(name=name), limits.KAM, "kam", TODAY)
        for setup, says in (
            (setup_with(max_fr=1), "cannot go below 2"),
            (setup_with(markets=("de-gas",)), "cannot be removed"),
            (setup_with(access=False), "switching access off"),
        ):
            with pytest.raises(parameters.ChangeRefused) as refused:
                parameters.apply_change(account(account_id), {"setup": setup}, actor="kam")
            assert says in " ".join(refused.value.errors["_schema"])
        assert reading.of_account(account(account_id))[0].name == "A"
        assert parameters.apply_change(account(account_id), {"setup": setup_with(max_fr=3)}, actor="kam").changes


def test_through_the_api_an_orphaning_change_is_a_409_and_switching_access_on_provisions(api, make_account, mailbox):
    """Case 1 account with optimisations on fr-power: access on with a market set that leaves
    them out is refused with the reason; with fr-power covering them, the login is provisioned
    and the credentials are sent through the workflow."""
    account_id = make_account(setup={"app_access": False})
    for name in "AB":
        assert (
            api.post(f"/api/v1/customer-accounts/{account_id}/optimisations", optimisation_body(name=name)).status_code
            == 201
        )
    too_few = setup_with(max_fr=1)
    refused = api.client.patch(
        f"/api/v1/customer-accounts/{account_id}", json={"setup": _jsonable(too_few)}, headers=api.headers
    )
    assert refused.status_code == 409 and "cannot go below 2" in refused.get_json()["message"]
    accepted = api.client.patch(
        f"/api/v1/customer-accounts/{account_id}", json={"setup": _jsonable(setup_with())}, headers=api.headers
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert api.wait_for_status(account_id)["status"] == "active"
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "claire.martin@foundry.example"
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(account_id).user_id is not None
        assert len(reading.of_account(account(account_id))) == 2  # nothing lost on the way


def _jsonable(setup: dict) -> dict:
    return {
        **setup,
        "markets": [
            {**m, "start_date": m["start_date"].isoformat(), "end_date": m["end_date"].isoformat()}
            for m in setup.get("markets", [])
        ],
    }


def test_a_forecast_an_optimisation_follows_cannot_be_unshared(make_account):
    """The client option taken away while an optimisation follows the customer's own forecast:
    refused by the market and the forecast, not left advising from a curve no longer shared.
    Switching the optimisation to a shared forecast first lets the same change through."""
    account_id = make_account(**{"setup.editor": "kam"})
    with db.database.connection_context():
        optimisation = editing.create(account(account_id), load(forecast="client"), limits.KAM, "kam", TODAY)
        with pytest.raises(parameters.ChangeRefused) as refused:
            parameters.apply_change(account(account_id), {"setup": setup_with()}, actor="kam")
        said = " ".join(refused.value.errors["_schema"])
        assert "fr-power" in said and "client forecast" in said and "Foundry 2027" in said
        assert limits.forecast_kinds(account(account_id), "fr-power") == ["application", "manager", "client"]
        editing.change(optimisation, {"forecast": "application"}, limits.KAM, "kam", TODAY)
        assert parameters.apply_change(account(account_id), {"setup": setup_with()}, actor="kam").changes


def test_switching_access_on_keeps_the_forecasts_case_1_optimisations_follow(make_account):
    """A Case 1 optimisation on the manager's forecast: giving access with only the application
    forecast shared would leave it on a forecast the customer is not given; refused, saying so."""
    account_id = make_account(setup={"app_access": False})
    with db.database.connection_context():
        editing.create(account(account_id), load(forecast="manager"), limits.KAM, "kam", TODAY)
        with pytest.raises(parameters.ChangeRefused) as refused:
            parameters.apply_change(account(account_id), {"setup": setup_with()}, actor="kam")
        assert "manager forecast" in " ".join(refused.value.errors["_schema"])
        assert account(account_id).app_access is False
