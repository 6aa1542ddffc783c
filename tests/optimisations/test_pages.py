"""The optimisation and forecast pages, as the KAM, the manager, the account's customer, another
KAM and another organisation's user; the same limits as the API, messages by the field."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from browser import STEP1, Browser, error_of, form_version, step2_with_access, text_of
from csrf import csrf_token
from support import PASSWORD, account_request

from optimisations.support import move_window, optimisation_body
from shared import access, db, organisations
from shared.models import CustomerAccount, ForecastUpload, Optimisation
from shared.optimisations import forecasts

TODAY = dt.date.today()


def form_of(**changes) -> dict:
    body = optimisation_body(**changes)
    return {
        **body,
        "max_fixings": "4",
        "min_share_pct": "10",
        "tariff_indexes": ["base"],
        "notify": "yes",
        "notify_recipients": ["customer"],
    }


@pytest.fixture
def customer_page(app):
    """Log in as an account's customer, after they chose a password through their link."""

    def login(account_id: int) -> Browser:
        with db.database.connection_context():
            user_id = CustomerAccount.get_by_id(account_id).user_id
            access.set_password(access.issue_set_password_token(user_id, 1), PASSWORD)
            email = CustomerAccount.get_by_id(account_id).email
        return Browser(app.test_client()).login(email)

    return login


@pytest.fixture
def outsiders(app, org):
    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], "kam2@acme-energy.example", "kam", PASSWORD)
        rival = organisations.create_organisation("rival-power", "Rival Power", ["fr-power"])
        organisations.create_staff_user(rival, "boss@rival-power.example", "manager", PASSWORD)
    return (
        Browser(app.test_client()).login("kam2@acme-energy.example"),
        Browser(app.test_client()).login("boss@rival-power.example"),
    )


def test_kam_as_editor_creates_records_and_the_customer_reads(make_account, kam_page, customer_page):
    account = make_account(**{"setup.editor": "kam"})
    base = f"/customers/{account}/optimisations"
    assert "Optimisations" in text_of(kam_page.get(f"/customers/{account}").text)
    bad = kam_page.post_form(f"{base}/new", form_of(volume_mwh="-3", delivery_start="2027-13"))
    assert bad.status_code == 422
    assert error_of(bad.text, "volume_mwh") and "YYYY-MM" in error_of(bad.text, "delivery_start")
    created = kam_page.post_form(
        f"{base}/new", form_of(window_start=(TODAY - dt.timedelta(days=7)).isoformat(), min_share_pct="20")
    )
    assert created.status_code == 303, text_of(created.text)
    page = kam_page.get(created.headers["Location"]).text
    assert "Calendar of fixing advice" in page and "To do" in text_of(page)
    target = created.headers["Location"]
    too_small = kam_page.post_form(
        f"{target}/fixings", {"fixed_on": TODAY.isoformat(), "price": "84", "share_pct": "5"}, page_path=target
    )
    assert too_small.status_code == 422 and "at least" in error_of(too_small.text, "fixing-share_pct")
    recorded = kam_page.post_form(
        f"{target}/fixings", {"fixed_on": TODAY.isoformat(), "price": "84", "share_pct": "30"}, page_path=target
    )
    assert recorded.status_code == 303
    assert "Fixed" in text_of(kam_page.get(target).text)
    # the customer reads the same calendar, and cannot change anything
    customer = customer_page(account)
    mine = customer.get(f"/my-account/optimisations{target[len(base) :]}")
    assert mine.status_code == 200 and "30.00 %" in text_of(mine.text)
    assert "Record the fixing" not in mine.text and "Edit parameters" not in mine.text
    forged = customer.client.post(
        f"/my-account/optimisations{target[len(base) :]}/fixings",
        data={"csrf_token": csrf_token(mine.text), "fixed_on": TODAY.isoformat(), "price": "80", "share_pct": "70"},
    )
    assert forged.status_code == 403
    # An invalid fixing too: refused as the customer's, not shown back with the editor's controls.
    invalid = customer.client.post(
        f"/my-account/optimisations{target[len(base) :]}/fixings",
        data={"csrf_token": csrf_token(mine.text), "fixed_on": "not a date", "price": "x", "share_pct": ""},
    )
    assert invalid.status_code == 403 and "Your KAM is the editor" in text_of(invalid.text)
    assert "Record the fixing" not in invalid.text
    refused = customer.post_form("/my-account/optimisations/new", form_of(), page_path="/my-account/optimisations")
    assert refused.status_code == 403 and "Your KAM is the editor" in text_of(refused.text)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"tariff_indexes": ["gold"]}, "tariff_indexes", "Unknown tariff index 'gold'"),
        ({"notify_recipients": ["nsa"]}, "notify_recipients", "Choose recipients among kam, customer."),
    ],
)
def test_a_forged_choice_in_the_optimisation_form_reads_as_a_sentence_by_its_field(
    make_account, kam_page, changes, field, message
):
    account = make_account(**{"setup.editor": "kam"})
    answer = kam_page.post_form(f"/customers/{account}/optimisations/new", {**form_of(), **changes})
    assert answer.status_code == 422
    assert message in error_of(answer.text, field)
    assert "{0:" not in answer.text and "[&#39;" not in answer.text


def test_customer_as_editor_within_the_maximum_and_the_kam_reads(
    make_account, kam_page, manager_page, customer_page, outsiders
):
    account = make_account()  # editor: the customer; fr-power at most 2
    customer = customer_page(account)
    landing = customer.get("/my-account")
    assert "Your optimisations" in landing.text
    for name in ("Site A", "Site B"):
        assert customer.post_form("/my-account/optimisations/new", form_of(name=name)).status_code == 303
    third = customer.post_form("/my-account/optimisations/new", form_of(name="Site C"))
    assert third.status_code == 422 and "at most 2" in error_of(third.text, "market")
    with db.database.connection_context():
        optimisation = Optimisation.get(Optimisation.name == "Site A")
    staff_url = f"/customers/{account}/optimisations/{optimisation.id}"
    kam_view = kam_page.get(staff_url)
    assert kam_view.status_code == 200 and "Record the fixing" not in kam_view.text
    assert "Calendar of fixing advice" in manager_page.get(staff_url).text
    refused = kam_page.post_form(f"/customers/{account}/optimisations/new", form_of(name="By KAM"), page_path=staff_url)
    assert refused.status_code == 403
    other_kam, rival = outsiders
    for browser in (other_kam, rival):
        assert browser.get(f"/customers/{account}/optimisations").status_code == 404
        assert browser.get(staff_url).status_code == 404
    assert kam_page.client.post(f"{staff_url}/delete", data={}).status_code == 400  # no CSRF token: refused


def test_before_the_start_date_the_customer_sees_the_market_without_information(make_account, customer_page):
    account = make_account(**{"setup.editor": "kam"})
    move_window(account, "fr-power", 10, 300)
    customer = customer_page(account)
    listing = text_of(customer.get("/my-account/optimisations").text)
    assert "France power" in listing and "no forecast or advice before then" in listing
    forecasts_page = text_of(customer.get("/my-account/forecasts").text)
    assert "starts on" in forecasts_page


def test_the_manager_uploads_the_company_forecast_with_errors_by_line(manager_page, kam_page):
    def upload(browser, content, market="de-gas"):
        return browser.post_form(
            "/forecasts",
            {"market": market, "file": (io.BytesIO(content.encode()), "curve.csv")},
            content_type="multipart/form-data",
        )

    bad = upload(manager_page, "month,price\n2027-01,38\n2027-02,x\n2027-13,40\n")
    assert bad.status_code == 422
    messages = error_of(bad.text, "file")
    assert "Line 3: price 'x'" in messages and "Line 4: month '2027-13'" in messages
    good = upload(manager_page, "month,price\n2027-01,38\n2027-02,37.5\n")
    assert good.status_code == 303
    page = text_of(manager_page.get("/forecasts").text)
    assert "Germany gas" in page and "boss@acme-energy.example" in page
    assert upload(kam_page, "2027-01,38\n").status_code == 403
    assert "Upload the company" not in kam_page.get("/forecasts").text


def test_the_forecast_page_lists_the_markets_in_the_wizards_order(manager_page):
    """The catalogue's order, as step 2 of the wizard lists them (France first), not by their ids."""
    page = manager_page.get("/forecasts").text
    options = re.findall(r'<option value="([a-z]{2}-[a-z]+)"', page)
    assert options == ["fr-power", "fr-gas", "de-power", "de-gas", "be-power", "nl-gas"]


TOO_BIG = b"month,price\n" + b"2027-01,50\n" * 30_000  # about 330 kB, over the request limit (256 kB)


def test_a_forecast_file_over_the_request_limit_is_the_page_again_with_the_files_message(
    make_account, manager_page, kam_page, customer_page
):
    """Werkzeug refuses the body before the form is read; the uploader gets their page back
    with the message by the file field, not "data value transmitted exceeds the capacity limit"."""
    customer = customer_page(make_account())
    with db.database.connection_context():
        before = ForecastUpload.select().count()
    for browser, path, heading in (
        (manager_page, "/forecasts", "Upload the company"),
        (customer, "/my-account/forecasts", "Forecasts shared with you"),
    ):
        answer = browser.post_form(
            path,
            {"market": "fr-power", "file": (io.BytesIO(TOO_BIG), "big.csv")},
            content_type="multipart/form-data",
        )
        assert answer.status_code == 413
        assert error_of(answer.text, "file") == "The file is larger than 64 kB."
        assert heading in text_of(answer.text) and "capacity limit" not in answer.text
    with db.database.connection_context():
        assert ForecastUpload.select().count() == before
    # Someone who may not upload there gets the site's error page, not a form.
    refused = kam_page.post_form(
        "/forecasts",
        {"market": "fr-power", "file": (io.BytesIO(TOO_BIG), "big.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 413 and 'id="file"' not in refused.text


def test_a_customer_with_the_client_option_uploads_their_own(make_account, customer_page, org):
    account = make_account()  # fr-power shares application, manager and client; de-gas application only
    with db.database.connection_context():  # the manager's de-gas forecast is not shared with this account
        forecasts.upload_csv(
            "manager", "de-gas", "2027-01,31.25\n", org["manager"].email, organisation_id=org["organisation"].id
        )
    customer = customer_page(account)
    shown = text_of(customer.get("/my-account/forecasts").text)
    french, german = shown.split("France power")[1].split("Germany gas", 1)  # the catalogue's order
    assert "31.25" not in german and "Manager forecast" not in german  # not shared with this account
    assert "Manager forecast" in french and "91.5" in french  # shared: the organisation's fr-power upload
    answer = customer.post_form(
        "/my-account/forecasts",
        {"market": "fr-power", "file": (io.BytesIO(b"2027-01,70\n2027-02,69\n"), "mine.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    page = text_of(customer.get("/my-account/forecasts").text)
    assert "Client forecast" in page and "70" in page
    refused = customer.post_form(
        "/my-account/forecasts",
        {  # de-gas shares the application forecast only
            "market": "de-gas",
            "file": (io.BytesIO(b"2027-01,30\n"), "mine.csv"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "not shared" in text_of(refused.text)
    # the client curve can now be chosen for an optimisation on fr-power
    created = customer.post_form("/my-account/optimisations/new", form_of(forecast="client"))
    assert created.status_code == 303
    assert re.search(r"Forecast\s*</dt>\s*<dd>Client", customer.get(created.headers["Location"]).text)


@pytest.mark.parametrize("market", ["fr-power\x00", "\x00", "zz-power", ""])
def test_a_customer_upload_for_a_market_not_in_the_catalogue_is_the_form_again(make_account, customer_page, market):
    """A forged market (a NUL in it is not even SQL text on PostgreSQL): the page again with the
    message by the market field, nothing stored."""
    account = make_account()
    customer = customer_page(account)
    answer = customer.post_form(
        "/my-account/forecasts",
        {"market": market, "file": (io.BytesIO(b"2027-01,70\n"), "mine.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert error_of(answer.text, "market") == "Choose one of the markets shared with you."
    assert "Forecasts shared with you" in text_of(answer.text)
    with db.database.connection_context():
        assert forecasts.uploads("client", account_id=account) == []


def test_a_kam_cannot_add_an_optimisation_to_a_rejected_account(api, worker, kam_page):
    body = account_request(**{"setup.editor": "kam"})
    body["setup"]["markets"][0]["market"] = "gb-power"  # not offered by the organisation: rejected
    account = api.create(body).get_json()["id"]
    assert api.wait_for_status(account)["status"] == "rejected"
    listing = kam_page.get(f"/customers/{account}/optimisations")
    assert "rejected, which is final" in text_of(listing.text)
    assert "New optimisation" not in text_of(listing.text)
    new = kam_page.get(f"/customers/{account}/optimisations/new")
    assert new.status_code == 302
    assert "rejected, which is final" in text_of(kam_page.get(new.headers["Location"]).text)
    answer = kam_page.post_form(
        f"/customers/{account}/optimisations/new",
        form_of(market="de-gas", notify_recipients=["kam"]),
        page_path=f"/customers/{account}/optimisations",
    )
    assert answer.status_code == 422
    assert "There is a problem" in text_of(answer.text) and "rejected, which is final" in text_of(answer.text)
    with db.database.connection_context():
        assert Optimisation.select().count() == 0


def test_the_manager_acts_for_the_kam_and_a_customer_is_kept_out_of_staff_pages(
    make_account, manager_page, customer_page
):
    account = make_account(**{"setup.editor": "kam"})
    created = manager_page.post_form(f"/customers/{account}/optimisations/new", form_of(name="By the manager"))
    assert created.status_code == 303
    assert "By the manager" in text_of(manager_page.get(f"/customers/{account}/optimisations").text)
    customer = customer_page(account)
    assert customer.get(f"/customers/{account}/optimisations").status_code == 403
    assert customer.get("/forecasts").status_code == 403
    assert manager_page.get("/my-account/optimisations").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/my-account/optimisations",
        "/customers/1/optimisations",
        "/customers/1/optimisations/1",
        "/forecasts",
        "/my-account/forecasts",
    ],
)
def test_every_page_needs_a_login(app, org, path):
    answer = app.test_client().get(path)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_edit_page_refuses_a_maximum_below_the_existing_optimisations_and_says_why(make_account, kam_page):
    account = make_account(**{"setup.editor": "kam"})
    for name in ("A", "B"):
        assert kam_page.post_form(f"/customers/{account}/optimisations/new", form_of(name=name)).status_code == 303
    form = {k: v for k, v in STEP1.items() if k != "email"}
    form.update(step2_with_access(**{"editor": "kam", "fr-power-max_optimisations": "1"}))
    answer = kam_page.post_form(f"/customers/{account}/edit", form)
    assert answer.status_code == 422
    assert "fr-power has 2 optimisation(s): its maximum cannot go below 2" in text_of(answer.text)
    with db.database.connection_context():
        assert Optimisation.select().where(Optimisation.account == account).count() == 2


def test_an_optimisation_page_left_open_in_another_tab_does_not_undo_a_later_change(make_account, kam_page):
    """Tab B raises the volume to 1500 MWh; tab A, opened before, renames the optimisation. Its
    form still says 1200 MWh: saving it must not silently put the volume back."""
    account = make_account(**{"setup.editor": "kam"})
    created = kam_page.post_form(f"/customers/{account}/optimisations/new", form_of())
    edit = created.headers["Location"] + "/edit"
    tab_a = kam_page.get(edit).text
    assert kam_page.post_form(edit, form_of(volume_mwh="1500")).status_code == 303  # tab B

    stale = kam_page.client.post(
        edit, data={"csrf_token": csrf_token(tab_a), "seen": form_version(tab_a), **form_of(name="Foundry site B")}
    )
    assert stale.status_code == 409
    assert (
        "This optimisation was changed (in another tab, by someone else or through the API) after this page "
        "was opened, so nothing was saved" in text_of(stale.text)
    )
    assert 'value="Foundry site B"' in stale.text  # what was typed is still there
    with db.database.connection_context():
        stored = Optimisation.get_by_id(int(created.headers["Location"].rsplit("/", 1)[1]))
    assert (stored.name, stored.volume_mwh) == ("Foundry 2027", 1500)

    again = kam_page.client.post(
        edit,
        data={"csrf_token": csrf_token(stale.text), "seen": form_version(stale.text), **form_of(name="Foundry site B")},
    )
    assert again.status_code == 303
    with db.database.connection_context():
        assert Optimisation.get_by_id(stored.id).name == "Foundry site B"


def test_while_the_account_is_not_active_the_editor_changes_nothing_but_may_delete(make_account, kam_page):
    account = make_account(**{"setup.editor": "kam"})
    base = f"/customers/{account}/optimisations"
    created = kam_page.post_form(f"{base}/new", form_of())
    assert created.status_code == 303, text_of(created.text)
    target = created.headers["Location"]
    with db.database.connection_context():  # as a change of parameters running its stages again
        CustomerAccount.update(status="activating").where(CustomerAccount.id == account).execute()
    page = text_of(kam_page.get(target).text)
    assert "Edit parameters" not in page and "Delete this optimisation" in page
    deleted = kam_page.post_form(f"{target}/delete", {}, page_path=target)
    assert deleted.status_code in (302, 303), text_of(deleted.text)
    with db.database.connection_context():
        assert Optimisation.select().where(Optimisation.account == account).count() == 0


def test_the_edit_form_is_not_offered_to_the_side_that_only_reads(make_account, kam_page, customer_page):
    """The customer edits: the KAM typing the edit page's address is sent back to the calendar
    with who edits, as "New optimisation" does, rather than given a form whose Save is refused.
    The customer, the editor, gets the form."""
    account = make_account()  # editor: the customer
    customer = customer_page(account)
    created = customer.post_form("/my-account/optimisations/new", form_of())
    assert created.status_code == 303, text_of(created.text)
    optimisation_id = created.headers["Location"].rsplit("/", 1)[1]
    staff_url = f"/customers/{account}/optimisations/{optimisation_id}"
    refused = kam_page.get(f"{staff_url}/edit")
    assert refused.status_code == 302 and refused.headers["Location"].endswith(staff_url)
    shown = text_of(kam_page.get(staff_url).text)
    assert "The customer is the editor of this account's optimisations" in shown
    form = customer.get(f"/my-account/optimisations/{optimisation_id}/edit")
    assert form.status_code == 200 and 'name="volume_mwh"' in form.text


def test_after_the_end_date_the_customer_editor_reads_and_is_not_offered_changes(make_account, customer_page):
    """The customer edits; their access to fr-power has ended: the optimisation's page keeps the
    calendar as of the end date and offers neither "Edit parameters" nor "Record the fixing"; a
    fixing posted anyway is refused with the end date, and nothing is recorded."""
    account = make_account()  # editor: the customer
    customer = customer_page(account)
    created = customer.post_form(
        "/my-account/optimisations/new", form_of(window_start=(TODAY - dt.timedelta(days=20)).isoformat())
    )
    assert created.status_code == 303, text_of(created.text)
    target = created.headers["Location"]
    assert "Record the fixing" in customer.get(target).text
    move_window(account, "fr-power", -300, -1)
    page = customer.get(target)
    assert page.status_code == 200 and "Calendar of fixing advice" in page.text
    assert "Record the fixing" not in page.text and "Edit parameters" not in page.text
    refused = customer.client.post(
        f"{target}/fixings",
        data={"csrf_token": csrf_token(page.text), "fixed_on": TODAY.isoformat(), "price": "80", "share_pct": "40"},
    )
    assert refused.status_code == 409 and "ended on" in text_of(refused.text)
    assert customer.get(f"{target}/edit").status_code == 302
    with db.database.connection_context():
        assert Optimisation.get(Optimisation.name == "Foundry 2027").fixings.count() == 0
