"""'Edit parameters' (everything but the email, re-running only what the change concerns) and
'Resend credentials', against the real worker, Redis and SMTP server."""

from __future__ import annotations

import pytest
from browser import STEP1, STEP2_NO_ACCESS, error_of, form_version, in_days, step2_with_access, text_of
from csrf import csrf_token
from marshmallow import ValidationError
from optimisations.support import move_window, optimisation_body
from support import account_request, wait_drained

from shared import db
from shared.change_schemas import EMAIL_IS_FIXED, AccountChangeSchema
from shared.models import AuditEvent, CustomerAccount, MarketAccess, StageRun, User


def edit_form(**changes) -> dict:
    """The edit page as first shown for the wizard's account with access, then changed."""
    data = {k: v for k, v in STEP1.items() if k != "email"}
    data.update(step2_with_access())
    data.update(changes)
    return data


def stage_runs(account_id: int) -> dict[str, StageRun]:
    with db.database.connection_context():
        return {run.stage: run for run in StageRun.select().where(StageRun.account == account_id)}


def audit(account_id: int, action: str) -> list[AuditEvent]:
    with db.database.connection_context():
        return list(AuditEvent.select().where((AuditEvent.account == account_id) & (AuditEvent.action == action)))


@pytest.fixture
def active_account(kam_page, mailbox, worker):
    account_id = kam_page.create(step2_with_access())
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    assert len(mailbox.wait_for(1)) == 1
    return account_id


def test_edit_page_shows_everything_with_the_email_read_only(kam_page, active_account):
    page = kam_page.get(f"/customers/{active_account}/edit")
    assert page.status_code == 200
    assert 'id="email" name="email" type="email" value="claire.martin@foundry.example" readonly' in page.text
    text = text_of(page.text)
    assert "The email address cannot be modified" in text
    assert "Would you like to give your customer access to the application?" in text
    assert 'name="markets" value="fr-power" checked' in page.text
    assert f'id="de-gas-end_date" name="de-gas-end_date" type="date" value="{in_days(200)}"' in page.text
    assert "Edit parameters" in text_of(kam_page.get(f"/customers/{active_account}").text)


def test_contact_changes_rerun_nothing_and_the_email_never_changes(kam_page, active_account, mailbox, redis_client):
    before = stage_runs(active_account)
    answer = kam_page.post_form(
        f"/customers/{active_account}/edit",
        edit_form(company="Martin Forge SAS", phone="+33 6 12 34 56 78", is_demo="yes", email="hijack@evil.example"),
    )
    assert answer.status_code == 303
    page = text_of(kam_page.get(f"/customers/{active_account}").text)
    assert "Parameters saved. Nothing needs to run again." in page
    with db.database.connection_context():
        account = CustomerAccount.get_by_id(active_account)
    assert (account.company, account.phone, account.is_demo) == ("Martin Forge SAS", "+33612345678", True)
    assert account.email == "claire.martin@foundry.example" and account.status == "active"
    assert {s: r.finished_at for s, r in stage_runs(active_account).items()} == {
        s: r.finished_at for s, r in before.items()
    }
    (event,) = audit(active_account, "parameters.changed")
    assert event.actor == "kam@acme-energy.example"
    assert event.detail["changes"]["customer.company"] == ["Martin Foundry SAS", "Martin Forge SAS"]
    assert event.detail["reruns"] == []
    wait_drained(redis_client)
    assert len(mailbox.messages) == 1


def test_a_new_market_reruns_only_activate_markets_and_sends_no_second_email(
    kam_page, active_account, mailbox, redis_client
):
    before = stage_runs(active_account)
    answer = kam_page.post_form(
        f"/customers/{active_account}/edit",
        edit_form(
            **{
                "markets": ["fr-power", "de-gas", "fr-gas"],
                "fr-gas-end_date": in_days(90),
                "fr-gas-forecasts": ["application"],
                "fr-gas-max_optimisations": "3",
            }
        ),
    )
    assert answer.status_code == 303
    assert "Running again: Activate the markets." in text_of(kam_page.get(f"/customers/{active_account}").text)
    assert kam_page.wait_for_status(active_account)["status"] == "active"
    after = stage_runs(active_account)
    assert after["activate_markets"].finished_at > before["activate_markets"].finished_at
    for stage in ("validate_customer", "provision_access"):
        assert after[stage].finished_at == before[stage].finished_at, stage
    with db.database.connection_context():
        fr_gas = MarketAccess.get((MarketAccess.account == active_account) & (MarketAccess.market == "fr-gas"))
    assert fr_gas.activated_at is not None and fr_gas.max_optimisations == 3
    wait_drained(redis_client)
    assert len(mailbox.messages) == 1  # credentials go once
    assert audit(active_account, "parameters.changed")[0].detail["reruns"] == ["activate_markets"]


def test_a_page_left_open_in_another_tab_does_not_undo_what_was_changed_since(kam_page, active_account):
    """Two tabs on the edit page: one adds French gas; the other, opened before, then saves a new
    phone number. Its form still says 'no French gas': saving it must not silently remove it."""
    edit = f"/customers/{active_account}/edit"
    old_tab = kam_page.get(edit).text
    added = edit_form(
        **{
            "markets": ["fr-power", "de-gas", "fr-gas"],
            "fr-gas-end_date": in_days(90),
            "fr-gas-forecasts": ["application"],
            "fr-gas-max_optimisations": "3",
        }
    )
    assert kam_page.post_form(edit, added).status_code == 303
    assert kam_page.wait_for_status(active_account)["status"] == "active"

    stale = kam_page.client.post(
        edit,
        data={
            "csrf_token": csrf_token(old_tab),
            "seen": form_version(old_tab),
            **edit_form(phone="+33 6 12 34 56 78"),
        },
    )
    assert stale.status_code == 409
    text = text_of(stale.text)
    assert (
        "The account's parameters were changed (in another tab, by someone else or by your CRM) after this page "
        "was opened, so nothing was saved" in text
    )
    assert 'value="+33 6 12 34 56 78"' in stale.text  # what was typed is still there
    with db.database.connection_context():
        account = CustomerAccount.get_by_id(active_account)
        markets = {row.market for row in account.markets}
    assert markets == {"fr-power", "de-gas", "fr-gas"} and account.phone == "+33123456789"

    # Saved again from the page that said so, it is a decision taken knowingly: it goes through.
    again = kam_page.client.post(
        edit,
        data={
            "csrf_token": csrf_token(stale.text),
            "seen": form_version(stale.text),
            **edit_form(phone="+33 6 12 34 56 78"),
        },
    )
    assert again.status_code == 303
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(active_account).phone == "+33612345678"


def test_an_edit_form_without_its_version_saves_nothing(kam_page, active_account):
    answer = kam_page.post_form(f"/customers/{active_account}/edit", edit_form(company="Forged SAS", seen=""))
    assert answer.status_code == 409
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(active_account).company == "Martin Foundry SAS"


def test_giving_access_later_provisions_activates_and_sends_the_credentials(kam_page, mailbox, worker):
    account_id = kam_page.create(STEP2_NO_ACCESS)
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    data = {k: v for k, v in STEP1.items() if k != "email"}
    data.update(step2_with_access(markets=["de-gas"]))
    answer = kam_page.post_form(f"/customers/{account_id}/edit", data)
    assert answer.status_code == 303, text_of(answer.text)
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    states = {stage: run.state for stage, run in stage_runs(account_id).items()}
    assert states == {
        "validate_customer": "done",
        "provision_access": "done",
        "activate_markets": "done",
        "send_credentials": "done",
    }
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "claire.martin@foundry.example"
    with db.database.connection_context():
        assert User.get(User.email == "claire.martin@foundry.example").role == "customer"
    assert "The email with the login credentials was sent to claire.martin@foundry.example" in text_of(
        kam_page.get(f"/customers/{account_id}").text
    )


def test_edit_errors_show_next_to_their_fields_and_change_nothing(kam_page, active_account):
    answer = kam_page.post_form(
        f"/customers/{active_account}/edit",
        edit_form(**{"company": "", "de-gas-end_date": "2001-01-01", "de-gas-forecasts": ["application", "manager"]}),
    )
    assert answer.status_code == 422
    assert "must not be blank" in error_of(answer.text, "company")
    assert "Must not be in the past." in error_of(answer.text, "de-gas-end_date")
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(active_account).company == "Martin Foundry SAS"
    assert audit(active_account, "parameters.changed") == []
    # The shared rule on manager forecasts, once the shape is right:
    answer = kam_page.post_form(
        f"/customers/{active_account}/edit", edit_form(**{"de-gas-forecasts": ["application", "manager"]})
    )
    assert answer.status_code == 422
    assert "manager has inserted forecasts" in error_of(answer.text, "de-gas-forecasts")


def test_a_reference_another_kams_customer_holds_is_refused_without_naming_it(kam_page, active_account, api):
    held = api.create(
        account_request(
            **{
                "kam_email": "boss@acme-energy.example",
                "customer.email": "held@other.example",
                "customer.customer_reference": "HELD-1",
            }
        )
    )
    assert held.status_code == 202
    answer = kam_page.post_form(f"/customers/{active_account}/edit", edit_form(customer_reference="HELD-1"))
    assert answer.status_code == 422
    assert (
        error_of(answer.text, "customer_reference") == "This customer reference is already used in your organisation."
    )
    assert f"Customer account {held.get_json()['id']}" not in answer.text
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(active_account).customer_reference == "FR-000123"


def test_the_change_schema_refuses_an_email():  # a pure function: no broker, database or worker
    with pytest.raises(ValidationError) as refused:
        AccountChangeSchema(partial=True).load({"customer": {"email": "new@x.example"}})
    assert refused.value.messages == {"customer": {"email": [EMAIL_IS_FIXED]}}


def test_resend_credentials_is_recorded_and_the_account_comes_back_to_active(kam_page, active_account):
    page = kam_page.get(f"/customers/{active_account}")
    assert "Resend credentials" in text_of(page.text)
    answer = kam_page.post_form(
        f"/customers/{active_account}/resend-credentials", {}, page_path=f"/customers/{active_account}"
    )
    assert answer.status_code == 303
    assert "The credentials are being sent again to claire.martin@foundry.example." in text_of(
        kam_page.get(f"/customers/{active_account}").text
    )
    assert kam_page.wait_for_status(active_account)["status"] == "active"
    (event,) = audit(active_account, "credentials.resend")
    assert event.detail == {"round": 1}


def test_resend_is_refused_for_an_account_without_access(kam_page, worker):
    account_id = kam_page.create(STEP2_NO_ACCESS)
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    answer = kam_page.post_form(f"/customers/{account_id}/resend-credentials", {}, page_path=f"/customers/{account_id}")
    assert answer.status_code == 303
    assert "no access to the application" in text_of(kam_page.get(f"/customers/{account_id}").text)
    assert audit(account_id, "credentials.resend") == []


def test_resend_sends_a_second_email_with_a_new_link(kam_page, active_account, mailbox):
    kam_page.post_form(f"/customers/{active_account}/resend-credentials", {}, page_path=f"/customers/{active_account}")
    first, second = mailbox.wait_for(2)
    assert second["To"] == "claire.martin@foundry.example"
    assert kam_page.wait_for_status(active_account)["status"] == "active"
    assert text_of(kam_page.get(f"/customers/{active_account}").text).count("was sent to claire.martin") == 2


def test_an_ended_market_kept_as_it_is_does_not_stop_the_account_being_edited(api, worker, kam_page):
    """Once a market's access has ended its end date is in the past: saving the page as shown (a
    new phone number) must still work, and an ended market with optimisations stays as it is."""
    account_id = api.create(account_request(**{"setup.editor": "kam"})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    made = api.post(f"/api/v1/customer-accounts/{account_id}/optimisations", optimisation_body())
    assert made.status_code == 201, made.get_json()
    move_window(account_id, "fr-power", -300, -1)
    move_window(account_id, "de-gas", -30, -2)
    form = edit_form(
        editor="kam",
        phone="+33 1 98 76 54 32",
        **{
            "fr-power-start_date": in_days(-300),
            "fr-power-end_date": in_days(-1),
            "de-gas-start_date": in_days(-30),
            "de-gas-end_date": in_days(-2),
        },
    )
    assert 'value="' + in_days(-1) + '"' in kam_page.get(f"/customers/{account_id}/edit").text
    answer = kam_page.post_form(f"/customers/{account_id}/edit", form)
    assert answer.status_code == 303, [error_of(answer.text, f) for f in ("fr-power-end_date", "de-gas-end_date")]
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(account_id).phone == "+33198765432"
    # Setting an end date in the past is still refused, next to its field, and nothing is written:
    answer = kam_page.post_form(
        f"/customers/{account_id}/edit", {**form, "phone": "+33 6 12 34 56 78", "de-gas-end_date": in_days(-3)}
    )
    assert answer.status_code == 422
    assert error_of(answer.text, "de-gas-end_date") == "Must not be in the past."
    assert "fr-power-end_date-error" not in answer.text
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(account_id).phone == "+33198765432"
        ends = {
            row.market: row.end_date.isoformat()
            for row in MarketAccess.select().where(MarketAccess.account == account_id)
        }
    assert ends == {"fr-power": in_days(-1), "de-gas": in_days(-2)}
