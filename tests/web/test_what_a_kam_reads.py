"""What a KAM, a manager or a customer reads on the pages, in the article's words: rejection
reasons by market and field, a rejected request copied into the wizard, what a market gives the
customer today, runs and retries of a stage, the History's changes, confirmation before a
resend, the manager's KAM column and filter, one form of each email and phone, and the
customer logged in once their password is set."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browser import STEP1, accounts_stored, error_of, form_version, in_days, step2_with_access, text_of
from csrf import csrf_token
from support import account_request, set_password_link

from shared import db, workflow
from shared.models import AuditEvent, CustomerAccount, MarketAccess
from web.test_lists import insert, rows

pytestmark = pytest.mark.usefixtures("worker")


def rejected_by_the_validate_stage(api) -> int:
    """A CRM request the validate stage rejects: Germany power is not offered (it is not in
    the organisation's markets here) and the manager forecast of Germany gas does not exist."""
    body = account_request()
    body["setup"]["markets"] = [
        {"market": "gb-power", "end_date": in_days(300), "forecasts": ["application"], "max_optimisations": 1},
        {"market": "de-gas", "end_date": in_days(300), "forecasts": ["application", "manager"], "max_optimisations": 2},
    ]
    created = api.create(body)
    assert created.status_code == 202, created.get_json()
    account = api.wait_for_status(created.get_json()["id"])
    assert account["status"] == "rejected"
    assert set(account["rejection_reasons"]) == {"setup.markets.gb-power.market", "setup.markets.de-gas.forecasts"}
    return account["id"]


def test_a_rejected_account_says_each_reason_by_market_and_field_and_not_run_stages(api, kam_page):
    account_id = rejected_by_the_validate_stage(api)
    page = kam_page.get(f"/customers/{account_id}").text
    reasons = re.search(r'<ul data-testid="rejection-reasons">(.*?)</ul>', page, flags=re.S).group(1)
    items = [text_of(li) for li in re.findall(r"<li>(.*?)</li>", reasons, flags=re.S)]
    assert "Great Britain power: Your organisation does not offer this market." in items
    assert any(
        item.startswith("Germany gas, shared forecasts: The manager forecast is available only") for item in items
    )
    assert "setup.markets" not in text_of(page)  # the API's codes stay in the API
    # The stages after the rejection never ran: not "Waiting" for good.
    text = text_of(page)
    assert "Waiting" not in text and text.count("Not run") == 3
    assert 'data-testid="running"' not in page
    # Final: its edit page sends the KAM back to the account, saying why.
    edit = kam_page.get(f"/customers/{account_id}/edit")
    assert edit.status_code == 302 and edit.headers["Location"].endswith(f"/customers/{account_id}")
    assert workflow.REJECTED_IS_FINAL in text_of(kam_page.get(f"/customers/{account_id}").text)


def test_add_a_new_account_with_corrected_details_opens_the_wizard_filled_in(api, kam_page, mailbox):
    account_id = rejected_by_the_validate_stage(api)
    page = kam_page.get(f"/customers/{account_id}").text
    link = re.search(r'<a href="([^"]+)">Add a new customer account with corrected details</a>', page).group(1)
    opened = kam_page.get(link)
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/customers/new")
    step1 = kam_page.get("/customers/new").text
    assert 'value="Martin Foundry SAS"' in step1 and 'value="claire.martin@foundry.example"' in step1
    assert 'value="+33 1 23 45 67 89"' in step1 and 'name="is_demo" value="no" checked' in step1
    assert "The answers of the rejected request for Martin Foundry SAS are filled in" in text_of(step1)
    # ...and why it was rejected, where the correcting starts: not only on the account page left behind.
    assert "Why it was rejected — " in text_of(step1)
    assert "Germany gas, shared forecasts: The manager forecast is available only" in text_of(step1)
    assert "Great Britain power: Your organisation does not offer this market." in text_of(step1)
    # The rejected request released its email and reference: step 1 goes through as it is.
    assert kam_page.post_form("/customers/new", {**STEP1}).status_code == 302
    step2 = kam_page.get("/customers/new/setup").text
    assert 'name="app_access" value="yes" checked' in step2 and 'name="editor" value="customer" checked' in step2
    assert 'name="markets" value="de-gas" checked' in step2
    assert f'id="de-gas-end_date" name="de-gas-end_date" type="date" value="{in_days(300)}"' in step2
    assert 'value="gb-power"' not in step2  # not offered: left out, and the KAM is told so
    assert "Not offered by your organisation, so left out: Great Britain power." in text_of(step1)
    # The manager forecast of Germany gas was the other reason: corrected, the account is created.
    answer = kam_page.post_form(
        "/customers/new/setup",
        {
            "app_access": "yes",
            "editor": "customer",
            "markets": ["de-gas"],
            "de-gas-start_date": in_days(0),
            "de-gas-end_date": in_days(300),
            "de-gas-forecasts": ["application"],
            "de-gas-max_optimisations": "2",
            "action": "create",
        },
    )
    assert answer.status_code == 302
    new_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    assert kam_page.wait_for_status(new_id)["status"] == "active"
    assert len(mailbox.wait_for(1)) == 1


def test_a_corrected_copy_created_twice_is_one_account(api, kam_page):
    """Straight from the copy to step 2 (step 1 already right), 'Create account' sent twice with
    the session of before: one account, and both answers show it."""
    rejected = rejected_by_the_validate_stage(api)
    kam_page.get(f"/customers/new/from/{rejected}")
    page = kam_page.get("/customers/new/setup").text
    before = kam_page.client.get_cookie("session")
    form = {
        "csrf_token": csrf_token(page),
        "seen": form_version(page),
        **step2_with_access(markets=["de-gas"], **{"de-gas-forecasts": ["application"]}),
        "action": "create",
    }
    first = kam_page.client.post("/customers/new/setup", data=form)
    assert first.status_code == 302, text_of(first.text)
    kam_page.client.set_cookie(before.key, before.value, domain=before.domain)
    second = kam_page.client.post("/customers/new/setup", data=form)
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert len(accounts_stored()) == 2  # the rejected request and its one corrected copy


def test_only_a_rejected_account_is_copied_and_only_ones_own(api, kam_page, other_kam_page):
    account_id = rejected_by_the_validate_stage(api)
    assert other_kam_page.get(f"/customers/new/from/{account_id}").status_code == 404
    active = insert_active(api)
    answer = kam_page.get(f"/customers/new/from/{active}")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/customers/{active}")


def insert_active(api, **changes) -> int:
    created = api.create(account_request(**changes)).get_json()
    assert api.wait_for_status(created["id"])["status"] == "active"
    return created["id"]


def test_a_market_starting_later_says_what_the_customer_has_today(api, kam_page):
    body = account_request()
    body["setup"]["markets"] = [
        {
            "market": "fr-power",
            "end_date": in_days(300),
            "forecasts": ["client", "application", "manager"],
            "max_optimisations": 2,
        },
        {
            "market": "de-gas",
            "start_date": in_days(30),
            "end_date": in_days(300),
            "forecasts": ["application"],
            "max_optimisations": 1,
        },
    ]
    account_id = api.create(body).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    page = kam_page.get(f"/customers/{account_id}").text
    today = lambda market: text_of(re.search(rf'data-testid="today-{market}">(.*?)</td>', page, flags=re.S).group(1))  # noqa: E731
    assert today("de-gas") == f"The application only, without the market information until {in_days(30)}"
    assert today("fr-power") == f"The forecasts and fixing advice, until {in_days(300)}"
    assert "What the customer has today" in text_of(page) and '<th scope="col">Active</th>' not in page
    # Shared forecasts in the article's order and words, whatever order they were sent in.
    assert "Application forecast, Manager forecast, Client forecast" in text_of(page)


def test_a_rerun_after_a_change_is_a_new_run_and_history_says_what_changed(kam_page, mailbox):
    account_id = kam_page.create(step2_with_access())
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    form = {k: v for k, v in STEP1.items() if k != "email"}
    answer = kam_page.post_form(
        f"/customers/{account_id}/edit",
        {
            **form,
            **step2_with_access(**{"de-gas-end_date": in_days(250), "de-gas-max_optimisations": "3"}),
            "first_name": "Claire-Marie",
        },
        page_path=f"/customers/{account_id}/edit",
    )
    assert answer.status_code == 303
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    page = kam_page.get(f"/customers/{account_id}").text
    activate = re.search(r'<li class="stage[^"]*" data-stage="activate_markets">(.*?)</li>', page, flags=re.S).group(1)
    assert "run 2 (ran again)" in text_of(activate)
    assert "attempts" not in activate  # a re-run is not a failure
    table = re.search(r'<table class="changes" data-testid="changes">(.*?)</table>', page, flags=re.S).group(1)
    changes = [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], flags=re.S)]
    assert "First name Claire Claire-Marie" in changes
    assert f"Germany gas, end date {in_days(200)} {in_days(250)}" in changes
    assert "Germany gas, number of optimisations 1 3" in changes


def test_retries_after_errors_are_attempts_of_one_run(kam_page, mailbox):
    mailbox.refuse_next(1)
    account_id = kam_page.create(step2_with_access())
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    page = kam_page.get(f"/customers/{account_id}").text
    send = re.search(r'data-stage="send_credentials">(.*?)</li>', page, flags=re.S).group(1)
    assert "2 attempts (retried after errors)" in text_of(send) and "run 2" not in send


def test_the_created_flash_does_not_say_running_once_active(kam_page):
    account_id = kam_page.create(step2_with_access())
    first = kam_page.get(f"/customers/{account_id}").text
    assert "The customer account of Martin Foundry SAS is created." in text_of(first)
    assert "its set-up is running" not in first
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    progress = kam_page.get(f"/customers/{account_id}/progress").get_json()["html"]
    assert "running" not in text_of(progress).lower()


def test_resend_credentials_asks_first_and_says_the_old_link_stops_working(kam_page, mailbox):
    account_id = kam_page.create(step2_with_access())
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    page = kam_page.get(f"/customers/{account_id}").text
    link = re.search(r'<a class="button" href="([^"]+)">Resend credentials</a>', page).group(1)
    confirm = kam_page.get(link)
    assert confirm.status_code == 200
    text = text_of(confirm.text)
    assert "The link sent before stops working" in text and "claire.martin@foundry.example" in text
    with db.database.connection_context():  # asking resent nothing
        assert (
            not AuditEvent.select()
            .where((AuditEvent.account == account_id) & (AuditEvent.action == "credentials.resend"))
            .exists()
        )
    assert kam_page.post_form(link, {}).status_code == 303
    assert len(mailbox.wait_for(2)) == 2


def test_the_manager_sees_and_filters_by_kam(manager_page, kam_page, org, other_kam):
    insert(org, "Mine SARL")
    insert(org, "Theirs GmbH", kam=other_kam)
    page = manager_page.get("/customers").text
    assert '<th scope="col">KAM</th>' in page
    listed = rows(page)
    assert any("Theirs GmbH" in r and "kam2@acme-energy.example" in r for r in listed)
    assert any("Mine SARL" in r and "kam@acme-energy.example" in r for r in listed)
    filtered = manager_page.get(f"/customers?kam={other_kam.id}").text
    assert [r for r in rows(filtered) if "SARL" in r or "GmbH" in r] == [r for r in rows(filtered) if "Theirs" in r]
    assert f'<option value="{other_kam.id}" selected>' in filtered
    assert "1 account of kam2@acme-energy.example" in text_of(filtered)
    for forged in ("999999", "abc"):
        refused = manager_page.get(f"/customers?kam={forged}")
        assert refused.status_code == 400 and "no such KAM" in refused.text
    assert '<th scope="col">KAM</th>' not in kam_page.get("/customers").text  # a KAM sees only theirs anyway


def test_email_and_phone_read_one_way_from_step_2_to_the_edit_page(kam_page):
    kam_page.step1(email="Claire.Martin@Foundry.EXAMPLE", phone="+33123456789")
    step2 = text_of(kam_page.get("/customers/new/setup").text)
    assert "claire.martin@foundry.example" in step2 and "Claire.Martin" not in step2
    back = kam_page.get("/customers/new").text
    assert 'value="+33 1 23 45 67 89"' in back
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(), "action": "create"})
    account_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    edit = kam_page.get(f"/customers/{account_id}/edit").text
    assert 'id="phone" name="phone" type="tel" value="+33 1 23 45 67 89"' in edit
    assert "+33 1 23 45 67 89" in text_of(kam_page.get(f"/customers/{account_id}").text)
    # Said once: the read-only email's hint, not the wizard's "you will not be able to" note too.
    assert "You will not be able to modify the email address later." not in text_of(edit)
    assert text_of(edit).count("cannot be modified") == 1


def test_step_2_names_the_editors_as_the_article_does(kam_page):
    kam_page.step1()
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(editor=""), "action": "create"})
    assert error_of(answer.text, "editor") == "Choose who edits the optimisation: the KAM or the customer."
    assert "(kam)" not in answer.text and "'kam'" not in answer.text
    assert accounts_stored() == []


def test_the_demo_and_trial_note_links_to_a_page_about_them(kam_page, browser):
    step1 = kam_page.get("/customers/new?fresh=1").text
    link = re.search(r'<a href="([^"]+)"[^>]*>Demo and free trial for potential customer</a>', step1).group(1)
    help_page = kam_page.get(link)
    assert help_page.status_code == 200
    text = text_of(help_page.text)
    assert (
        "Is this a demo account?" in text
        and "set the End date of each market to the end of the trial" in text.replace("Set", "set")
    )
    assert browser.get(link).status_code == 302  # behind the login, as every page


def choose_password(client, mailbox):
    """Follow the credentials email's link and choose a password, as the customer does."""
    (message,) = mailbox.wait_for(1)
    link = set_password_link(message)
    token = csrf_token(client.get(link).text)
    return client.post(link, data={"csrf_token": token, "password": "a-long-secret-1", "confirm": "a-long-secret-1"})


def test_setting_the_password_logs_the_customer_in(api, client, mailbox):
    account_id = insert_active(api)
    done = choose_password(client, mailbox)
    assert done.status_code == 303 and done.headers["Location"].endswith("/my-account")
    mine = client.get("/my-account")
    assert mine.status_code == 200 and "Martin Foundry SAS" in mine.text
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(account_id).user.email in text_of(mine.text)
    # The shared forecasts read in the article's order for the customer too.
    assert "Application forecast, Manager forecast, Client forecast" in text_of(mine.text)


def test_the_customer_sees_when_a_later_market_opens(api, client, mailbox):
    body = account_request()
    body["setup"]["markets"][0]["start_date"] = in_days(10)
    account_id = api.create(body).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    with db.database.connection_context():
        market = MarketAccess.get((MarketAccess.account == account_id) & (MarketAccess.start_date > dt.date.today()))
    choose_password(client, mailbox)
    mine = client.get("/my-account").text
    cell = re.search(rf'data-testid="today-{market.market}">(.*?)</td>', mine, flags=re.S).group(1)
    assert text_of(cell) == f"The market information opens on {in_days(10)}"


def test_step_1_asks_about_a_demo_account_as_the_article_does_no_first(kam_page):
    page = kam_page.get("/customers/new?fresh=1").text
    options = re.findall(r'<input type="radio" id="is_demo-(\w+)"', page)
    assert options == ["no", "yes"]
    text = text_of(page)
    assert text.index("If you want to create a real account for the company, click No") < text.index(
        "If you want to create a demo account for a potential customer (or company), click Yes"
    )


def test_step_2_names_the_shared_forecasts_as_the_article_does(kam_page):
    kam_page.step1()
    page = kam_page.get("/customers/new/setup").text
    card = re.search(r'<fieldset class="field forecasts[^"]*" id="fr-power-forecasts".*?</fieldset>', page, flags=re.S)
    labels = [text_of(label) for label in re.findall(r'<label class="check[^"]*">(.*?)</label>', card.group(0), re.S)]
    assert labels == ["Application forecast option", "Manager forecast option", "Client forecast option"]


@pytest.mark.parametrize(
    "step2, words",
    [
        (
            step2_with_access(),
            "Henceforth, the customer or you (on the customer's behalf) can create optimisations within the defined limits.",
        ),
        ({"app_access": "no"}, "You can now create as many optimisations as you want for the customer."),
    ],
)
def test_once_active_the_account_page_says_optimisations_can_be_created_in_the_articles_words(kam_page, step2, words):
    account_id = kam_page.create(step2)
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    assert words in text_of(kam_page.get(f"/customers/{account_id}").text)
    assert words in text_of(kam_page.get(f"/customers/{account_id}/progress").get_json()["html"])


def test_a_rejected_account_does_not_say_optimisations_can_be_created(api, kam_page):
    page = text_of(kam_page.get(f"/customers/{rejected_by_the_validate_stage(api)}").text)
    assert "The account was rejected" in page and "can create optimisations" not in page
