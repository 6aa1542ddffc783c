"""The pages meet WCAG 2.1 AA, proven in headless Chromium: axe-core's A and AA rules on every
page and state a KAM, a manager and a customer go through (errors included), no sideways
scrolling at 320 and 640 CSS pixels (reflow), the wizard completed with the keyboard alone, and
after a failed submit the focus on an error summary that leads to each field."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from accessibility import (
    axe_violations,
    broken_references,
    describe,
    faint_field_borders,
    invisible_focus,
    sideways_overflow,
    unexplained_asterisks,
    unmarked_but_required,
    unstated_required,
    wider_than_window,
)
from browser import browser_tests, in_days
from optimisations.support import optimisation_body
from support import PASSWORD, account_request, set_password_link

from kamflow.demo import demo_curve_csv
from shared import db
from shared.optimisations import forecasts

pytestmark = [*browser_tests, pytest.mark.usefixtures("worker")]

CUSTOMER_PASSWORD = "a-long-customer-secret-7"


@pytest.fixture
def page_locale():
    return "en-US"  # the date fields are typed month, day, year


class Audit:
    """Checks each state as it is reached and keeps every problem, so that one run lists them all."""

    def __init__(self, page):
        self.page = page
        self.states: list[str] = []
        self.problems: list[str] = []

    def __call__(self, state: str) -> None:
        self.states.append(state)
        violations = axe_violations(self.page)
        if violations:
            self.problems.append(f"{state} ({self.page.url}): WCAG 2.1 AA violations\n{describe(violations)}")
        self.problems.extend(f"{state}: {problem}" for problem in broken_references(self.page))
        self.problems.extend(f"{state}: {problem}" for problem in unexplained_asterisks(self.page))
        self.problems.extend(f"{state}: {problem}" for problem in faint_field_borders(self.page))
        self.problems.extend(f"{state}: {problem}" for problem in unstated_required(self.page))
        for width in (640, 320):
            self.page.set_viewport_size({"width": width, "height": 800})
            if width == 320:  # what only a small screen shows: a table scrolling in its box must be reachable
                narrow = axe_violations(self.page)
                if narrow:
                    self.problems.append(f"{state} at 320 px: WCAG 2.1 AA violations\n{describe(narrow)}")
            overflow = sideways_overflow(self.page)
            if overflow > 0:
                self.problems.append(
                    f"{state}: scrolls sideways by {overflow} px at {width} px wide; "
                    f"sticking out: {', '.join(wider_than_window(self.page))}"
                )
        self.page.set_viewport_size({"width": 1280, "height": 900})


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def answer_step_1(page, email: str = "claire.martin@foundry.example") -> None:
    """The wizard's step 1 answered (it is open), then Next: on step 2."""
    page.get_by_label("Company", exact=True).fill("Martin Foundry SAS")
    page.get_by_label("Last name").fill("Martin")
    page.get_by_label("First name").fill("Claire")
    page.get_by_label("Phone number").fill("+33 1 23 45 67 89")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("radio", name="No").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="Setting up of the account").wait_for()


def log_out(page) -> None:
    page.get_by_role("button", name="Logout").click()
    page.get_by_role("heading", name="Log in").wait_for()


def test_every_page_and_state_meets_wcag_21_aa_and_reflows_at_320_px(page, org, mailbox):
    from playwright.sync_api import expect

    check = Audit(page)
    page.goto("/login")
    check("login")
    page.get_by_role("button", name="Log in").click()
    check("login, empty submit")
    log_in(page, org["kam"].email, "not-the-password")
    page.get_by_text("The email or the password is not right.").wait_for()
    check("login, refused")

    log_in(page, org["kam"].email)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    check("dashboard, empty")
    page.get_by_role("link", name="Customers").click()
    check("customers, empty")

    page.get_by_role("link", name="Add a customer account").click()
    page.get_by_role("heading", name="Defining the customer").wait_for()
    page.get_by_text("Fields marked with an asterisk (*) are required.").wait_for()  # the red * said in words
    check("wizard step 1")
    page.get_by_role("button", name="Next").click()
    page.locator(".error-summary").wait_for()
    check("wizard step 1 with errors")
    assert not unmarked_but_required(page), unmarked_but_required(page)
    answer_step_1(page)
    check("wizard step 2")
    # A radio's name is its answer; its help is its description, read after it.
    yes = page.get_by_role("radio", name="Yes", exact=True)
    expect(yes).to_have_accessible_description(re.compile(r"^Now, both the KAM and the customer"))
    yes.check()
    check("wizard step 2, access: yes")
    page.get_by_role("radio", name="The customer").check()
    page.get_by_role("group", name="France power").get_by_role("checkbox", name="France power").check()
    check("wizard step 2, a market ticked")
    page.get_by_role("button", name="Create account").click()
    page.locator(".error-summary").wait_for()
    check("wizard step 2 with errors")
    page.get_by_text("Fields marked with an asterisk (*) are required.").wait_for()  # step 2 marks them too
    assert not unmarked_but_required(page), unmarked_but_required(page)
    france = page.get_by_role("group", name="France power")
    france.get_by_label("End date").fill(in_days(300))
    france.get_by_role("checkbox", name="Application").check()
    france.get_by_label("Number of optimisations").fill("2")
    page.get_by_role("button", name="Create account").click()

    page.get_by_role("heading", name="Martin Foundry SAS").wait_for()
    account_id = int(re.search(r"/customers/(\d+)$", page.url).group(1))
    check("account page, set-up running")
    page.locator('[data-testid="status"]', has_text="Active").wait_for(timeout=20_000)
    check("account page, active")
    page.get_by_role("link", name="Resend credentials").click()
    page.get_by_role("heading", name="Resend the login credentials?").wait_for()
    check("resend credentials, asked first")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("link", name="Optimisations").click()
    page.get_by_role("heading", name="Optimisations").wait_for()
    check("optimisations of an account, the KAM's view")
    page.go_back()
    page.get_by_role("link", name="Edit parameters").click()
    check("edit parameters")
    page.get_by_label("Company", exact=True).fill("")
    page.get_by_role("button", name="Save parameters").click()
    page.locator(".error-summary").wait_for()
    check("edit parameters with errors")
    page.get_by_role("link", name="Customers").click()
    check("customers, one account")
    page.get_by_role("link", name="Dashboard").click()
    check("dashboard, one account")
    page.goto("/help/demo-and-trial")
    check("help: demo and free trial")
    page.goto("/customers/999999")
    check("an error page")
    assert page.title() == "Not Found (404) · kamflow"  # what the page is about, not a bare number
    log_out(page)

    log_in(page, org["manager"].email)
    page.get_by_role("link", name="Operations").click()
    page.get_by_role("heading", name="Operations").wait_for()
    check("/ops")
    page.get_by_role("link", name="Forecasts").click()
    page.get_by_role("heading", name="Forecasts", exact=True).wait_for()
    check("forecasts, the manager's upload")
    page.get_by_role("button", name="Upload").click()
    page.locator(".error-summary").wait_for()
    check("forecasts, upload with errors")
    page.goto(f"/ops/accounts/{account_id}")
    page.locator("[data-testid=timeline]").wait_for()
    check("/ops, an account's timeline")
    log_out(page)

    (message,) = mailbox.wait_for(1)
    link = set_password_link(message)
    page.goto(link)
    page.get_by_role("heading", name="Choose your password").wait_for()
    check("set password")
    page.locator("#password").fill(CUSTOMER_PASSWORD)
    page.locator("#confirm").fill(CUSTOMER_PASSWORD + "x")
    page.get_by_role("button", name="Set my password").click()
    page.locator(".error-summary").wait_for()
    check("set password with errors")
    page.locator("#password").fill(CUSTOMER_PASSWORD)
    page.locator("#confirm").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.get_by_role("heading", name="Your markets").wait_for()  # logged in, on their own page
    check("the customer's account page, password just set")
    page.goto(link)
    check("set password, link used")
    page.goto("/")
    page.get_by_role("heading", name="Your markets").wait_for()
    check("the customer's account page")
    page.get_by_role("link", name="Forecasts").click()
    page.get_by_role("heading", name="Forecasts shared with you").wait_for()
    check("the customer's forecasts")
    page.goto("/")
    page.get_by_role("link", name="Your optimisations").click()
    page.get_by_role("heading", name="Optimisations").wait_for()
    check("the customer's optimisations")
    page.get_by_role("link", name="New optimisation").first.click()
    page.get_by_role("heading", name="New optimisation").wait_for()
    check("a new optimisation")
    page.get_by_role("button", name="Create optimisation").click()
    page.locator(".error-summary").wait_for()
    check("a new optimisation with errors")
    assert not unmarked_but_required(page), unmarked_but_required(page)

    assert not check.problems, "\n\n".join(check.problems)


def test_an_optimisation_its_calendar_fixings_and_the_api_docs_meet_wcag_21_aa_at_320_px(page, org, api):
    """The pages with the widest tables, filled: an optimisation's calendar of fixing advice and
    its fixings, the list of optimisations, and the API reference (public)."""
    with db.database.connection_context():  # the application's reference curve: a calendar to show
        forecasts.upload_csv("application", "fr-power", demo_curve_csv("fr-power"), "operator")
    account_id = api.create(account_request(**{"setup.editor": "kam"})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    window_start = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    created = api.post(
        f"/api/v1/customer-accounts/{account_id}/optimisations",
        optimisation_body(risk_appetite="low", max_fixings=4, min_share_pct=20, window_start=window_start),
    )
    assert created.status_code == 201, created.get_json()
    optimisation = f"/customers/{account_id}/optimisations/{created.get_json()['id']}"

    check = Audit(page)
    log_in(page, org["kam"].email)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    page.goto("/api/docs")
    check("the API reference")
    page.goto(optimisation)
    page.get_by_role("heading", name="Calendar of fixing advice").wait_for()
    page.get_by_label("Share (%)").fill("40")
    page.get_by_role("button", name="Record the fixing").click()  # the price forgotten
    page.get_by_role("heading", name="There is a problem").wait_for()
    check("an optimisation, a fixing refused")
    assert_error_summary_focused(page, "fixing-price")  # a form in the middle of the page too
    page.keyboard.type("84.10")
    page.get_by_label("Date").fill((dt.date.today() - dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Record the fixing").click()
    page.get_by_role("button", name="Cancel this fixing").wait_for()
    check("an optimisation, its calendar and a fixing")
    for path, state in (
        (f"/customers/{account_id}/optimisations", "the optimisations of an account, one with its next advice"),
        ("/forecasts", "forecasts, the KAM's view"),
    ):
        page.goto(path)
        check(state)
    page.goto(optimisation)  # deleting cannot be undone: asked first (WCAG 3.3.4)
    page.get_by_role("link", name="Delete this optimisation").click()
    page.get_by_role("heading", name="Delete the optimisation “Foundry 2027”?").wait_for()
    check("deleting an optimisation, asked first")
    page.get_by_role("button", name="Delete the optimisation").click()
    page.get_by_text("Optimisation “Foundry 2027” deleted.").wait_for()

    assert len(check.states) == 6 and not check.problems, "\n\n".join(check.problems)


#: What people type, longer than the tests' usual names: words no line can hold at 320 px.
LONG_KAM = "key.account.manager.for.industrial.customers@acme-energy-supplies.example"
LONG_NAMES = {
    "kam_email": LONG_KAM,
    "customer.company": "Établissements-Industriels-Métallurgiques-de-Basse-Normandie-SAS",
    "customer.email": "responsable.achats.energie.et.optimisation@etablissements-metallurgiques.example",
    "customer.customer_reference": "SIRET-" + "3" * 40,
}


def test_long_emails_names_and_references_wrap_at_320_px_instead_of_widening_the_page(page, org, api, mailbox):
    """An email in the top bar, a company name in a heading, a reference or an email in the
    account's facts: unbroken words of user input must wrap, not push the page sideways."""
    from shared import organisations

    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], LONG_KAM, "kam", PASSWORD)
    account_id = api.create(account_request(**LONG_NAMES)).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"

    check = Audit(page)
    log_in(page, LONG_KAM)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    check("dashboard, a KAM with a long email")
    for path, state in (
        (f"/customers/{account_id}", "account page, long company, email and reference"),
        (f"/customers/{account_id}/edit", "edit parameters, long company and email"),
    ):
        page.goto(path)
        check(state)
    log_out(page)
    page.goto(set_password_link(mailbox.wait_for(1)[0]))
    page.locator("#password").fill(CUSTOMER_PASSWORD)
    page.locator("#confirm").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.get_by_role("heading", name="Your markets").wait_for()
    check("the customer's account page, long company and email")

    assert len(check.states) == 4 and not check.problems, "\n\n".join(check.problems)


# --- the keyboard alone ------------------------------------------------------------------------


def focused(page) -> str:
    """The focused element, as a person debugging would want it described."""
    return page.evaluate("""() => { const e = document.activeElement;
      return e ? `${e.tagName.toLowerCase()}#${e.id} name=${e.name || ""} ${(e.innerText || e.value || "").slice(0, 40)}` : "nothing"; }""")


def has_focus(page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


def tab_to(page, selector: str, limit: int) -> int:
    """Press Tab until `selector` has the focus, at most `limit` times; how many it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if has_focus(page, selector):
            return presses
    raise AssertionError(f"{selector} not reached in {limit} Tab presses; the focus is on {focused(page)}")


def type_into(page, selector: str, text: str, limit: int = 3) -> None:
    tab_to(page, selector, limit)
    page.keyboard.type(text)


def assert_error_summary_focused(page, first_link: str) -> None:
    """After a failed submit: the title says Error, the focus is on the summary at the top, and
    its first link (Tab, Enter) puts the focus into the field to correct."""
    from playwright.sync_api import expect

    assert page.title().startswith("Error: "), page.title()
    expect(page.locator("#error-summary")).to_be_focused()  # autofocus applies at the next rendering
    page.keyboard.press("Tab")
    assert has_focus(page, f'#error-summary a[href="#{first_link}"]'), focused(page)
    page.keyboard.press("Enter")
    assert has_focus(page, f"#{first_link}"), f"the link left the focus on {focused(page)}"


def test_a_kam_completes_the_wizard_with_the_keyboard_alone(page, org):
    from browser import accounts_stored

    from shared import db

    page.goto("/login")
    type_into(page, "#email", org["kam"].email, limit=5)
    type_into(page, "#password", PASSWORD, limit=1)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    tab_to(page, 'a[href*="/customers/new"]', limit=10)
    page.keyboard.press("Enter")

    # Step 1, in the order shown; a wrong phone number first.
    page.get_by_role("heading", name="Defining the customer").wait_for()
    assert not page.title().startswith("Error")
    type_into(page, "#company", "Keyboard Works SA", limit=10)
    type_into(page, "#customer_reference", "KB-1", limit=1)
    type_into(page, "#last_name", "Martin", limit=1)
    type_into(page, "#first_name", "Claire", limit=1)
    type_into(page, "#phone", "12", limit=1)
    type_into(page, "#email", "claire@keyboard.example", limit=1)
    tab_to(page, "#is_demo-no", limit=1)  # a radio group is one Tab stop (No first, as the article); arrows choose
    page.keyboard.press("ArrowDown")
    assert page.locator("#is_demo-yes").is_checked()
    page.keyboard.press("ArrowUp")
    assert page.locator("#is_demo-no").is_checked()
    tab_to(page, "button.primary", limit=2)
    assert page.locator(".actions > *").first.inner_text() == "Next"  # what is seen first is reached first
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="There is a problem").wait_for()
    assert_error_summary_focused(page, "phone")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("+33 1 23 45 67 89")
    tab_to(page, "button.primary", limit=5)
    page.keyboard.press("Enter")

    # Step 2: Yes, the customer edits, French power only; the number of optimisations forgotten.
    page.get_by_role("heading", name="Setting up of the account").wait_for()
    tab_to(page, "#app_access-no", limit=10)
    page.keyboard.press("ArrowDown")
    assert page.locator("#app_access-yes").is_checked()
    tab_to(page, "#editor-kam", limit=1)
    page.keyboard.press("ArrowDown")
    assert page.locator("#editor-customer").is_checked()
    tab_to(page, "#fr-power-market", limit=2)
    page.keyboard.press("Space")
    tab_to(page, "#fr-power-end_date", limit=8)
    page.keyboard.type(page.evaluate("iso => { const [y, m, d] = iso.split('-'); return m + d + y; }", in_days(300)))
    assert page.locator("#fr-power-end_date").input_value() == in_days(300)
    page.keyboard.press("Tab")  # from the year to the field's calendar button: the focus stays visible
    assert page.evaluate("""() => { const date = document.getElementById("fr-power-end_date");
      return document.activeElement === date && !date.matches(":focus") && getComputedStyle(date).outlineStyle !== "none"; }""")
    tab_to(page, '#fr-power-forecasts input[value="application"]', limit=8)
    page.keyboard.press("Space")
    # Unticked markets are one Tab stop each (their fields are out of the tab order).
    # Manager, Client, their Help, Number of optimisations, its Help, the five other markets'
    # checkboxes, Create account.
    presses = tab_to(page, 'button[value="create"]', limit=40)
    assert presses == 11, f"{presses} Tab presses from the last forecast to 'Create account'"
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="There is a problem").wait_for()
    assert_error_summary_focused(page, "fr-power-max_optimisations")
    page.keyboard.type("2")
    tab_to(page, 'button[value="create"]', limit=20)
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="Keyboard Works SA").wait_for()
    assert not page.title().startswith("Error")
    (account,) = accounts_stored()
    with db.database.connection_context():
        (market,) = account.markets
        assert (account.phone, account.is_demo, account.editor) == ("+33123456789", False, "customer")
        assert (market.market, market.end_date.isoformat(), market.forecasts, market.max_optimisations) == (
            "fr-power",
            in_days(300),
            ["application"],
            2,
        )


def test_an_error_summary_link_to_a_market_unticked_since_leads_to_its_checkbox(page, org):
    """Step 2 sent back with errors in two markets; the KAM unticks one (its fields go out of the
    tab order) and follows its error's link: the focus goes to that market's checkbox, to tick
    it again, rather than staying on the link with nothing happening."""
    log_in(page, org["kam"].email)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    page.goto("/customers/new?fresh=1")
    answer_step_1(page)
    page.get_by_role("radio", name="Yes", exact=True).check()
    page.get_by_role("radio", name="The customer").check()
    for market in ("France power", "Germany gas"):
        page.get_by_role("group", name=market).get_by_role("checkbox", name=market).check()
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="There is a problem").wait_for()
    page.locator("#de-gas-market").focus()
    page.keyboard.press("Space")  # Germany gas unticked: its fields are disabled
    assert page.locator("#de-gas-end_date").is_disabled()
    page.locator('#error-summary a[href="#de-gas-end_date"]').focus()
    page.keyboard.press("Enter")
    assert has_focus(page, "#de-gas-market"), f"the link left the focus on {focused(page)}"


def test_every_tab_stop_of_the_optimisation_form_and_step_2_shows_the_focus(page, org, api):
    """The forms with the most kinds of fields (text, number, month, date with its calendar
    button, select, radios, checkboxes, folded help): wherever Tab goes, the focus is seen."""
    account_id = api.create(account_request(**{"setup.editor": "kam"})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    log_in(page, org["kam"].email)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    page.goto(f"/customers/{account_id}/optimisations/new")
    unseen = {"new optimisation": invisible_focus(page)}
    page.goto("/customers/new?fresh=1")
    answer_step_1(page, email="another.customer@foundry.example")  # the first account has Claire's
    page.get_by_role("radio", name="Yes", exact=True).check()
    page.get_by_role("group", name="France power").get_by_role("checkbox", name="France power").check()
    unseen["wizard step 2"] = invisible_focus(page)
    assert not any(unseen.values()), unseen


def test_a_refused_action_says_error_in_the_title_of_the_page_it_comes_back_to(page, org, api):
    """Not a form with fields, but an action refused and said by a message at the top (here
    Edit parameters of a rejected account): the title, read first, says so too."""
    rejected = api.create(account_request(**{"setup.markets.1.forecasts": ["application", "manager"]})).get_json()["id"]
    assert api.wait_for_status(rejected)["status"] == "rejected"  # no manager forecast for German gas
    log_in(page, org["kam"].email)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    page.goto(f"/customers/{rejected}/edit")
    page.get_by_text("This account was rejected, which is final").wait_for()
    assert page.title() == "Error: Martin Foundry SAS · kamflow"
    page.reload()  # the message shown once: the title goes back to the page's own
    assert page.title() == "Martin Foundry SAS · kamflow"


def test_what_an_action_did_is_read_first_and_the_role_is_in_words(page, org):
    """After 'Create account' the account page says "... is created" in a message that a screen
    reader did not announce (a live region already there when a page loads is not): the focus
    is put on it, as after logging out. An error summary keeps the focus it takes. The top bar says the role in words,
    where a tooltip alone said it before."""
    from playwright.sync_api import expect

    log_in(page, org["kam"].email)
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    assert "kam@acme-energy.example (KAM)" in page.locator(".who").inner_text()
    page.goto("/customers/new?fresh=1")
    answer_step_1(page)
    page.get_by_role("radio", name="No", exact=True).check()
    page.get_by_role("button", name="Create account").click()
    message = page.locator(".flash")
    expect(message).to_have_text("The customer account of Martin Foundry SAS is created.")
    expect(message).to_be_focused()
    log_out(page)
    expect(message).to_have_text("You are logged out.")
    expect(message).to_be_focused()
    log_in(page, org["kam"].email)
    page.goto("/customers/new?fresh=1")  # an error summary keeps the focus it takes
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#error-summary")).to_be_focused()


def test_the_session_warns_before_it_ends_idle_and_one_button_keeps_it(page, org):
    """SESSION_IDLE_MINUTES (60) without a request ends a session, and a page left open lost what
    was typed without a word (WCAG 2.2.1). Two minutes before, a warning takes the focus; 'Stay
    logged in' (Enter) starts the idle clock again, hides it and gives the focus back."""
    from playwright.sync_api import expect

    page.clock.install()
    log_in(page, org["kam"].email)
    page.goto("/customers/new?fresh=1")
    company = page.get_by_label("Company", exact=True)
    company.fill("Typed, not sent")
    warning = page.get_by_role("alertdialog", name="Are you still there?")
    expect(warning).to_be_hidden()
    page.clock.run_for("57:00")
    expect(warning).to_be_hidden()
    page.clock.run_for("01:01")  # 58 minutes without a request: 2 minutes left
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("you will be logged out in 2 minutes")
    stay = warning.get_by_role("button", name="Stay logged in")
    expect(stay).to_be_focused()
    check = Audit(page)
    check("the idle warning")
    assert not check.problems, "\n\n".join(check.problems)
    stay.focus()  # the audit resized the window
    with page.expect_response("**/session/keep-alive") as kept:
        page.keyboard.press("Enter")
    assert kept.value.status == 204
    expect(warning).to_be_hidden()
    expect(company).to_be_focused()
    expect(company).to_have_value("Typed, not sent")
    page.clock.run_for("57:00")
    expect(warning).to_be_hidden()  # the clock started again
    page.clock.run_for("01:01")
    expect(warning).to_be_visible()
