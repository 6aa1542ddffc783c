"""End to end in headless Chromium (Debian's, never a downloaded one): a KAM logs in, creates an
account with access on two markets and one without through the wizard, watches them become
active without reloading, edits one; screenshots go to test-artifacts/ to be looked at."""

from __future__ import annotations

import re

import pytest
from accessibility import assert_accessible
from browser import browser_tests, in_days, screenshot
from support import PASSWORD

pytestmark = [*browser_tests, pytest.mark.usefixtures("worker")]


@pytest.fixture
def page_locale():
    return "fr-FR"


def shot(page, name: str) -> None:
    """A screenshot to look at, and axe-core's WCAG 2.1 AA audit of the same state."""
    screenshot(page, name)
    assert_accessible(page, name)


def fill_step1(page, company: str, email: str, demo: str) -> None:
    page.get_by_label("Company", exact=True).fill(company)
    page.get_by_label("Customer reference").fill(f"REF-{company[:3].upper()}")
    page.get_by_label("Last name").fill("Martin")
    page.get_by_label("First name").fill("Claire")
    page.get_by_label("Phone number").fill("+33 1 23 45 67 89")
    page.get_by_label("Email").fill(email)
    page.locator(f'input[name="is_demo"][value="{demo}"]').check()


def fill_market(page, market: str, end: str, forecasts: list[str], optimisations: str) -> None:
    page.locator(f"#{market}-market").check()
    page.locator(f"#{market}-end_date").fill(end)
    for forecast in forecasts:
        page.locator(f'input[name="{market}-forecasts"][value="{forecast}"]').check()
    page.locator(f"#{market}-max_optimisations").fill(optimisations)


def wait_until_active(page) -> None:
    """The status on the page changes by itself: no reload here."""
    page.locator('[data-testid="status"]', has_text="Active").wait_for(timeout=20_000)


def test_a_kam_creates_two_accounts_sees_them_active_and_edits_one(page, org, mailbox):
    page.goto("/")
    assert page.url.endswith("/login")
    page.get_by_label("Email").fill(org["kam"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Monitoring of activities").wait_for()

    # Option 1: from the dashboard. Step 1, with an error shown next to its field first.
    page.get_by_role("link", name="Add an account").click()
    page.get_by_role("heading", name="Defining the customer").wait_for()
    fill_step1(page, "Martin Foundry SAS", "claire.martin@foundry.example", "no")
    page.get_by_label("Phone number").fill("12")
    page.get_by_role("button", name="Next").click()
    assert "Enter an international number" in page.locator("#phone-error").inner_text()
    page.get_by_label("Phone number").fill("+33 1 23 45 67 89")
    shot(page, "wizard-step-1")
    page.get_by_role("button", name="Next").click()

    # Step 2: the access questions appear once Yes is chosen.
    page.get_by_role("heading", name="Setting up of the account").wait_for()
    page.wait_for_load_state()  # the page's script hides them: let it run (a slow machine shows the heading first)
    assert not page.locator(".access-yes").first.is_visible()
    page.locator('input[name="app_access"][value="yes"]').check()
    assert page.get_by_text("Who edits the optimisation?").is_visible()
    page.locator('input[name="editor"][value="customer"]').check()
    fill_market(page, "fr-power", in_days(400), ["application", "manager", "client"], "2")
    fill_market(page, "de-gas", in_days(200), ["application"], "1")
    assert page.locator('input[name="de-gas-forecasts"][value="manager"]').is_disabled()

    # Back keeps what was typed, in both steps.
    page.get_by_role("button", name="Back").click()
    assert page.get_by_label("Company", exact=True).input_value() == "Martin Foundry SAS"
    page.get_by_role("button", name="Next").click()
    assert page.locator("#de-gas-end_date").input_value() == in_days(200)
    assert page.locator("#fr-power-market").is_checked()
    shot(page, "wizard-step-2")
    page.get_by_role("button", name="Create account").click()

    # The account page: stages move to active by themselves; the credentials email was sent.
    page.get_by_role("heading", name="Martin Foundry SAS").wait_for()
    wait_until_active(page)
    page.get_by_text("The email with the login credentials was sent to claire.martin@foundry.example").wait_for()
    assert page.locator(".stage.state-done").count() == 4
    assert page.get_by_role("link", name="Resend credentials").is_visible()
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "claire.martin@foundry.example"
    # Dates in the browser's locale (fr-FR here), not ISO.
    created = page.locator("dl.facts time").inner_text()
    assert not re.match(r"\d{4}-\d{2}-\d{2}", created) and re.search(r"\d{4}", created)
    shot(page, "account-page")

    # Option 2: from 'Customers', an account without access.
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("heading", name="CUSTOMER ACCOUNTS").wait_for()
    page.get_by_role("link", name="Add a customer account").click()
    fill_step1(page, "Demo Brewery", "owner@brewery.example", "yes")
    page.get_by_role("button", name="Next").click()
    page.locator('input[name="app_access"][value="no"]').check()
    assert not page.get_by_text("Who edits the optimisation?").is_visible()
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Demo Brewery").wait_for()
    wait_until_active(page)
    assert page.locator(".stage.state-skipped").count() == 3

    # Edit parameters of the first: the email is read-only; a new market re-runs activation.
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="Martin Foundry SAS").click()
    page.get_by_role("link", name="Edit parameters").click()
    assert page.get_by_label("Email").get_attribute("readonly") is not None
    page.get_by_label("Company", exact=True).fill("Martin Forge SAS")
    fill_market(page, "fr-gas", in_days(60), ["application"], "1")
    page.get_by_role("button", name="Save parameters").click()
    page.get_by_text("Parameters saved. Running again: Activate the markets.").wait_for()
    page.get_by_role("heading", name="Martin Forge SAS").wait_for()
    wait_until_active(page)
    assert (
        page.locator(".markets-table tr", has_text="France gas")
        .locator("td")
        .last.inner_text()
        .startswith("The forecasts and fixing advice, until")
    )

    page.get_by_role("link", name="Customers").click()
    rows = page.locator("table.accounts tbody tr")
    assert rows.count() == 2
    assert "Demo" in rows.nth(0).inner_text() and "Active" in rows.nth(0).inner_text()
    shot(page, "customer-accounts")
    page.get_by_role("link", name="Dashboard").click()
    # the real customer and the demo are counted apart
    assert page.locator('[data-testid="count-active"] .n').inner_text() == "1"
    assert page.locator('[data-testid="count-demo"] .n').inner_text() == "1"
    shot(page, "dashboard")
