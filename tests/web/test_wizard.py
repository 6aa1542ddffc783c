"""The two-step 'add a customer account' wizard, against the help article and the real workflow."""

from __future__ import annotations

import datetime as dt

import pytest
from browser import (
    STEP1,
    STEP2_NO_ACCESS,
    accounts_stored,
    error_of,
    form_version,
    in_days,
    step2_with_access,
    text_of,
)
from csrf import csrf_token
from support import account_request, wait_drained

from shared import db
from shared.models import MarketAccess

ARTICLE_STEP1 = [
    "Defining the customer",
    "Company",
    "Enter the name of the 'Company' that buys the supply.",
    "Customer reference",
    "Tip : To help you to identify a customer quickly, you can enter a 'Customer reference' (company's number in "
    "your database, its fiscal number, etc.).",
    "Enter the 'Last name', 'First name', 'Phone number', and 'Email' of the person in charge of managing the "
    "optimisation of the supply contracts for the customer company.",
    "Last name",
    "First name",
    "Phone number",
    "Email",
    "You will not be able to modify the email address later.",
    "Additionally, the email address serves as the login credential if you provide the company direct access to "
    "the application.",
    "Is this a demo account?",
    "If you want to create a real account for the company, click No",
    "If you want to create a demo account for a potential customer (or company), click Yes",
    "Demo and free trial for potential customer",
    "Next",
]

ARTICLE_STEP2 = [
    "Setting up of the account",
    "You can modify the parameters after the creation of the customer account at anytime.",
    "Would you like to give your customer access to the application?",
    "Now, the customer will only get the information you'll share with him but you will need to do it outside of "
    "the application.",
    "Now, both the KAM and the customer will be able to access the fixing advice calendar.",
    "You can now create as many optimisations as you want for the customer.",
    "Define who will be able to edit the optimisation on the application :",
    "Insert or modify the parameters of the optimisation.",
    "Enable or disable the notifications and choose who will receive them.",
    "Update the status of the fixings.",
    "The KAM",
    "If you click on 'The KAM', the functions will be disabled for the customer and they will have to "
    "call you to change a parameter.",
    "The customer",
    "If you click on 'The customer', the functions will be disabled for the KAM and the customer "
    "will be autonomous and solely responsible for the parameters of the optimisation. Both the KAM and the "
    "customer will be able to access the fixing advice calendar.",
    "Activate the services for the customer",
    "Markets available",
    "Select the markets the customer will use for the optimisations and for which you want the customer to have "
    "access to the market analysis.",
    "Define the dates corresponding to the start and the end of the period for which the customer can access the "
    "forecast and fixing advice.",
    "The sooner the better.",
    "We recommend you to choose the start date as today for at least one market.",
    "However, if the start date is set in the future, then the customer will only have access to the application "
    "without the information.",
    "We recommend you to choose the last day of the delivery of the supply, so that the customer has longer access "
    "to the market data.",
    "If you want to give a trial to the customer, set the end date to the end of the trial.",
    "or two months earlier for the markets where the application doesn't cover the short-term",
    "Shared forecasts",
    "Select the available forecast(s) you want to share with the customer :",
    "Application forecast option : Forecasts provided by default by the application",
    "Manager forecast option : Forecasts provided by your company",
    "This option is available only if your manager inserted the forecasts of your company into the application.",
    "Client forecast option : If your customer is an expert and wants to use his own forecasts for the "
    "optimisations, then this option allows the customer to insert his own forecasts in the application.",
    "This function is an option, you will still need to provide your customer with the application forecast or "
    "manager forecast options.",
    "Number of optimisations",
    "Indicate the maximum number of optimisations that can be created for the customer for a particular market. In "
    "the application, an optimisation corresponds to one fixing advice calendar.",
    "Which number should you indicate if your customer has several points of delivery in his supply contract?",
    "There's only one person in charge of the optimisation and this person takes the same decisions for all.",
    "If one of above stated elements differ between two or more points of delivery, then you will have to create "
    "two or more optimisations.",
    "The customer should receive an email with the login credentials from noreply@optimization.energy",
    "Create account",
    "Back",
]


def test_step_1_shows_every_field_tip_and_note_of_the_article(kam_page):
    page = kam_page.get("/customers/new?fresh=1")
    assert page.status_code == 200
    text = text_of(page.text)
    for expected in ARTICLE_STEP1:
        assert expected in text, expected
    for field in ("company", "customer_reference", "last_name", "first_name", "phone", "email"):
        assert f'<label for="{field}"' in page.text  # every input has its label


def test_both_add_buttons_open_the_wizard(kam_page):
    for page, button in (("/dashboard", "Add an account"), ("/customers", "Add a customer account")):
        html = kam_page.get(page).text
        assert f'href="/customers/new?fresh=1">{button}</a>' in html


def test_step_1_errors_show_next_to_their_fields_and_nothing_is_stored(kam_page):
    answer = kam_page.step1(company="  ", phone="01 23", email="not-an-email", is_demo="")
    assert answer.status_code == 422
    assert "must not be blank" in error_of(answer.text, "company")
    assert "Enter an international number" in error_of(answer.text, "phone")
    assert "Not a valid email address" in error_of(answer.text, "email")
    assert "Answer yes or no" in error_of(answer.text, "is_demo")
    assert error_of(answer.text, "last_name") == ""
    assert 'value="Martin"' in answer.text  # what was typed stays
    assert accounts_stored() == []
    # Step 2 is not reachable with step 1 in error? It is reachable only after a valid Next.
    assert kam_page.step1().status_code == 302


def test_step_1_warns_when_the_email_is_already_a_login(kam_page, org):
    answer = kam_page.step1(email=org["manager"].email)
    assert answer.status_code == 422
    assert "already used as a login" in error_of(answer.text, "email")


def test_step_2_needs_step_1_first(kam_page):
    kam_page.get("/customers/new?fresh=1")
    answer = kam_page.get("/customers/new/setup")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/customers/new")


def test_step_2_shows_the_article_and_only_what_the_organisation_offers(kam_page):
    kam_page.step1()
    page = kam_page.get("/customers/new/setup")
    assert page.status_code == 200
    text = text_of(page.text)
    for expected in ARTICLE_STEP2:
        assert expected in text, expected
    assert "Martin Foundry SAS" in text
    # Markets: the organisation's only (it does not offer Britain's).
    assert 'value="fr-power"' in page.text and 'value="nl-gas"' in page.text
    assert 'value="gb-power"' not in page.text and "Great Britain" not in text
    # Today is proposed as the start date.
    assert (
        f'id="fr-power-start_date" name="fr-power-start_date" type="date" value="{dt.date.today().isoformat()}"'
        in page.text
    )
    # The manager forecast is offered only where the manager inserted forecasts (French power).
    assert 'name="fr-power-forecasts" value="manager">' in page.text
    assert 'name="de-gas-forecasts" value="manager" disabled>' in page.text


def test_back_keeps_what_was_typed_in_both_steps(kam_page):
    kam_page.step1(company="Back And Forth SA", is_demo="yes")
    back = kam_page.post_form(
        "/customers/new/setup",
        {**step2_with_access(**{"de-gas-end_date": in_days(99), "editor": "kam"}), "action": "back"},
    )
    assert back.status_code == 302 and back.headers["Location"].endswith("/customers/new")
    step1 = kam_page.get("/customers/new").text
    assert 'value="Back And Forth SA"' in step1
    assert 'name="is_demo" value="yes" checked' in step1
    assert (
        kam_page.post_form("/customers/new", {**STEP1, "company": "Back And Forth SA", "is_demo": "yes"}).status_code
        == 302
    )
    step2 = kam_page.get("/customers/new/setup").text
    assert 'name="app_access" value="yes" checked' in step2
    assert 'name="editor" value="kam" checked' in step2
    assert f'id="de-gas-end_date" name="de-gas-end_date" type="date" value="{in_days(99)}"' in step2
    assert 'name="markets" value="de-gas" checked' in step2
    assert 'name="markets" value="fr-gas" checked' not in step2
    assert accounts_stored() == []  # nothing written by going back and forth


def test_step_1_answered_again_in_another_tab_does_not_change_whom_step_2_creates(kam_page):
    """Tab A is on step 2 for Martin Foundry; in tab B the KAM starts another customer's account
    (the draft is the session's, shared by the tabs). 'Create account' in tab A must not create
    an account for tab B's customer under a page that names Martin Foundry."""
    assert kam_page.step1().status_code == 302
    tab_a = kam_page.get("/customers/new/setup").text
    assert "For Martin Foundry SAS" in text_of(tab_a)
    other = {"company": "Dubois Verrerie SA", "email": "luc.dubois@verrerie.example", "customer_reference": "FR-9"}
    assert kam_page.step1(**other).status_code == 302  # tab B

    answer = kam_page.client.post(
        "/customers/new/setup",
        data={
            "csrf_token": csrf_token(tab_a),
            "seen": form_version(tab_a),
            **step2_with_access(editor="kam"),
            "action": "create",
        },
    )
    assert answer.status_code == 409
    assert accounts_stored() == []
    text = text_of(answer.text)
    assert "For Dubois Verrerie SA" in text
    assert (
        "Step 1 was answered again after this page was shown (in another tab, or through Back): this account "
        "is now for Dubois Verrerie SA (luc.dubois@verrerie.example), as named above. Nothing was created" in text
    )
    assert 'name="editor" value="kam" checked' in answer.text  # tab A's set-up is kept

    # Created from the page that names the customer it is for, it is created.
    again = kam_page.client.post(
        "/customers/new/setup",
        data={
            "csrf_token": csrf_token(answer.text),
            "seen": form_version(answer.text),
            **step2_with_access(editor="kam"),
            "action": "create",
        },
    )
    assert again.status_code == 302
    assert [(a.company, a.editor) for a in accounts_stored()] == [("Dubois Verrerie SA", "kam")]


def test_create_account_sent_twice_creates_one_account_and_shows_it_both_times(kam_page):
    """A double click on 'Create account', or a retry after a lost answer: the second request
    carries the session of before, draft and all. It used to show step 1 again saying that
    'Customer account 1 (Martin Foundry SAS, pending) already has this email' -- the account the
    first click had just created."""
    assert kam_page.step1().status_code == 302
    page = kam_page.get("/customers/new/setup").text
    before = kam_page.client.get_cookie("session")
    form = {"csrf_token": csrf_token(page), "seen": form_version(page), **step2_with_access(), "action": "create"}
    first = kam_page.client.post("/customers/new/setup", data=form)
    assert first.status_code == 302
    kam_page.client.set_cookie(before.key, before.value, domain=before.domain)
    second = kam_page.client.post("/customers/new/setup", data=form)
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert "The customer account of Martin Foundry SAS is created." in text_of(
        kam_page.get(second.headers["Location"]).text
    )
    assert [a.company for a in accounts_stored()] == ["Martin Foundry SAS"]
    # The draft is done with: the next account starts from a blank step 1.
    assert kam_page.get("/customers/new/setup").headers["Location"].endswith("/customers/new")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"markets": []}, "markets", "Select at least one market"),
        ({"editor": ""}, "editor", "Choose who edits the optimisation"),
        (
            {"de-gas-end_date": (dt.date.today() - dt.timedelta(days=1)).isoformat()},
            "de-gas-end_date",
            "Must not be in the past.",
        ),
        ({"de-gas-end_date": ""}, "de-gas-end_date", "Missing data"),
        ({"de-gas-forecasts": ["client"]}, "de-gas-forecasts", "The client forecast is an option"),
        ({"de-gas-forecasts": []}, "de-gas-forecasts", "Choose at least one forecast"),
        ({"de-gas-max_optimisations": "0"}, "de-gas-max_optimisations", "Must be a whole number from 1 to 1000."),
        ({"de-gas-max_optimisations": "two"}, "de-gas-max_optimisations", "Not a valid integer."),
        # Forged past the disabled checkbox: the shared rule answers next to the field.
        ({"de-gas-forecasts": ["application", "manager"]}, "de-gas-forecasts", "manager has inserted forecasts"),
        ({"app_access": ""}, "app_access", "Answer yes or no"),
    ],
)
def test_step_2_errors_show_next_to_their_fields_and_nothing_is_stored(kam_page, changes, field, message):
    kam_page.step1()
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(**changes), "action": "create"})
    assert answer.status_code == 422
    assert message in error_of(answer.text, field)
    assert error_of(answer.text, "fr-power-end_date") == ""  # only the wrong field is flagged
    assert accounts_stored() == []


def test_a_market_the_organisation_does_not_offer_cannot_be_chosen(kam_page):
    """Not on the page, and a forged one is not taken: the KAM is asked to select a market."""
    kam_page.step1()
    answer = kam_page.post_form(
        "/customers/new/setup",
        {
            **step2_with_access(markets=["gb-gas"]),
            "gb-gas-end_date": in_days(30),
            "gb-gas-forecasts": ["application"],
            "gb-gas-max_optimisations": "1",
            "action": "create",
        },
    )
    assert answer.status_code == 422
    assert "Select at least one market" in error_of(answer.text, "markets")
    assert accounts_stored() == []


@pytest.mark.usefixtures("worker")
def test_account_with_access_on_two_markets_is_created_and_reaches_active_with_credentials_sent(kam_page, org, mailbox):
    account_id = kam_page.create(step2_with_access())
    (account,) = accounts_stored()
    assert account.id == account_id and account.kam_id == org["kam"].id  # kam_email: the logged-in KAM
    assert account.phone == "+33123456789" and account.is_demo is False and account.editor == "customer"
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    page = kam_page.get(f"/customers/{account_id}")
    text = text_of(page.text)
    assert "Active" in text
    for stage in (
        "Validate the customer",
        "Provide access to the application",
        "Activate the markets",
        "Send the login credentials",
    ):
        assert stage in text
    assert text.count("Done") == 4
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "claire.martin@foundry.example"
    assert "The email with the login credentials was sent to claire.martin@foundry.example" in text
    assert "Resend credentials" in text
    with db.database.connection_context():
        markets = {m.market: m for m in MarketAccess.select()}
    assert sorted(markets) == ["de-gas", "fr-power"]
    assert markets["fr-power"].forecasts == ["application", "manager", "client"]  # the article's order
    assert markets["de-gas"].max_optimisations == 1 and markets["de-gas"].activated_at is not None
    # The wizard's draft is gone: a new wizard starts blank.
    assert 'value="Martin Foundry SAS"' not in kam_page.get("/customers/new").text


@pytest.mark.usefixtures("worker")
def test_account_without_access_is_created_and_reaches_active_without_email(kam_page, mailbox, redis_client):
    account_id = kam_page.create(STEP2_NO_ACCESS, is_demo="yes")
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    text = text_of(kam_page.get(f"/customers/{account_id}").text)
    assert text.count("Not needed") == 3
    assert "Resend credentials" not in text
    (account,) = accounts_stored()
    assert account.app_access is False and account.is_demo is True
    wait_drained(redis_client)
    assert mailbox.messages == []


def test_no_access_ignores_market_fields_left_in_the_form(kam_page):
    """Answering No after ticking markets: the hidden market fields are not sent to the schema."""
    kam_page.step1()
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(), "app_access": "no", "action": "create"})
    assert answer.status_code == 302
    with db.database.connection_context():
        assert MarketAccess.select().count() == 0


def test_a_manager_creating_an_account_owns_it(manager_page, org):
    manager_page.create(STEP2_NO_ACCESS)
    (account,) = accounts_stored()
    assert account.kam_id == org["manager"].id


def test_the_final_submit_without_csrf_token_is_refused(kam_page):
    kam_page.step1()
    answer = kam_page.client.post("/customers/new/setup", data={**STEP2_NO_ACCESS, "action": "create"})
    assert answer.status_code == 400
    assert accounts_stored() == []


def test_create_refused_by_the_field_when_another_request_took_the_email_meanwhile(kam_page, api):
    """Step 1 was fine; before 'Create account' the CRM created the same customer: the earlier wins,
    and the wizard shows step 1 again with which account holds the email, by the email field."""
    assert kam_page.step1().status_code == 302
    kam_page.get("/customers/new/setup")
    first = api.create(account_request())
    assert first.status_code == 202
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(), "action": "create"})
    assert answer.status_code == 409  # step 1 again, the message by the field
    assert f"Customer account {first.get_json()['id']}" in error_of(answer.text, "email")
    assert f"Customer account {first.get_json()['id']}" in error_of(answer.text, "customer_reference")
    assert len(accounts_stored()) == 1


def test_another_kams_customer_is_not_named_to_a_kam_who_cannot_see_it(kam_page, other_kam_page, manager_page, api):
    """The email and reference are held by another KAM's account: the KAM is told they are taken,
    not whose (that account is not among theirs); the manager, who sees it, is told which."""
    first = api.create(account_request(**{"kam_email": "kam2@acme-energy.example"}))
    assert first.status_code == 202
    holder = f"Customer account {first.get_json()['id']}"
    answer = kam_page.step1()
    assert answer.status_code == 422
    assert error_of(answer.text, "email") == "This email is already used as a login; it must be unique."
    assert (
        error_of(answer.text, "customer_reference") == "This customer reference is already used in your organisation."
    )
    assert holder not in answer.text and "pending" not in text_of(answer.text)
    # At 'Create account' too, when the other KAM's request came in between the two steps:
    assert kam_page.step1(email="c2@foundry.example", customer_reference="FR-2").status_code == 302
    kam_page.get("/customers/new/setup")
    second = account_request(
        **{
            "kam_email": "kam2@acme-energy.example",
            "customer.email": "c2@foundry.example",
            "customer.customer_reference": "FR-3",
        }
    )
    assert api.create(second).status_code == 202
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(), "action": "create"})
    assert answer.status_code == 409
    assert error_of(answer.text, "email") == "This email is already used as a login; it must be unique."
    assert "Customer account" not in answer.text
    for page in (manager_page, other_kam_page):  # they see the holding account: it is named
        assert holder in error_of(page.step1().text, "customer_reference")


@pytest.mark.parametrize("editor", ["boss", ""])
def test_a_forged_editor_is_told_once_by_its_field(kam_page, editor):
    kam_page.step1()
    answer = kam_page.post_form("/customers/new/setup", {**step2_with_access(editor=editor), "action": "create"})
    assert answer.status_code == 422
    assert error_of(answer.text, "editor") == "Choose who edits the optimisation: the KAM or the customer."
    assert text_of(answer.text).count("Choose who edits the optimisation") == 2  # by the field, and in the summary
    assert accounts_stored() == []
