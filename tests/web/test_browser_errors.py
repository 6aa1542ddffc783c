"""In headless Chromium: an error the server showed goes as soon as the KAM answers its field
(the message, the red border, aria-invalid), and only that field's."""

from __future__ import annotations

import pytest
from browser import STEP1, browser_tests, screenshot
from support import PASSWORD

pytestmark = [*browser_tests]


@pytest.fixture
def page(page, org):
    """Chromium with the KAM logged in."""
    page.goto("/login")
    page.get_by_label("Email").fill(org["kam"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Monitoring of activities").wait_for()
    return page


def border_of(page, selector: str) -> str:
    return page.locator(selector).evaluate("el => getComputedStyle(el).borderTopColor")


def test_a_fixed_error_disappears_as_soon_as_it_is_fixed(page):
    page.goto("/customers/new?fresh=1")
    for field in ("company", "customer_reference", "last_name", "first_name", "email"):
        page.locator(f"#{field}").fill(STEP1[field])
    page.locator("#phone").fill("12")
    page.locator('input[name="is_demo"][value="no"]').check()
    page.get_by_role("button", name="Next").click()
    assert "Enter an international number" in page.locator("#phone-error").inner_text()
    page.wait_for_load_state()  # the page's script listens before the KAM types (a slow machine shows the error first)
    red = border_of(page, "#phone")
    page.locator("#phone").fill("+33 1 23 45 67 89")
    assert page.locator("#phone-error").count() == 0
    assert page.locator("#phone").get_attribute("aria-invalid") is None
    assert border_of(page, "#phone") != red
    page.get_by_role("button", name="Next").click()

    # Step 2: "Create account" with nothing answered, then Yes.
    page.get_by_role("heading", name="Setting up of the account").wait_for()
    page.get_by_role("button", name="Create account").click()
    page.locator("#app_access-error").wait_for()
    page.wait_for_load_state()
    assert "Answer yes or no." in page.locator("#app_access-error").inner_text()
    no_option = 'fieldset#app_access .option:has(input[value="no"])'
    red = border_of(page, no_option)
    page.locator('input[name="app_access"][value="yes"]').check()
    assert page.locator("#app_access-error").count() == 0
    assert "has-error" not in page.locator("fieldset#app_access").get_attribute("class")
    assert border_of(page, no_option) != red  # the No option is not red any more
    screenshot(page, "wizard-step-2-error-fixed")

    # A market's errors go field by field: the date fixed, the number of optimisations still wrong.
    page.locator('input[name="editor"][value="kam"]').check()
    page.locator("#fr-power-market").check()
    page.locator("#fr-power-max_optimisations").fill("0")
    page.get_by_role("button", name="Create account").click()
    page.locator("#fr-power-end_date-error").wait_for()
    page.wait_for_load_state()
    assert page.locator("#fr-power-max_optimisations-error").count() == 1
    page.locator("#fr-power-end_date").fill("2099-12-31")
    assert page.locator("#fr-power-end_date-error").count() == 0
    assert page.locator("#fr-power-max_optimisations-error").count() == 1
    assert page.locator("#fr-power-max_optimisations").get_attribute("aria-invalid") == "true"


def test_step_2_puts_each_help_next_to_its_field_and_a_market_fits_on_one_screen(page):
    page.goto("/customers/new?fresh=1")
    for field in ("company", "customer_reference", "last_name", "first_name", "phone", "email"):
        page.locator(f"#{field}").fill(STEP1[field])
    page.locator('input[name="is_demo"][value="no"]').check()
    page.get_by_role("button", name="Next").click()
    page.locator('input[name="app_access"][value="yes"]').check()
    page.locator("#fr-power-market").check()  # an unticked market shows its name only
    card = page.locator('.market-card[data-market="fr-power"]')
    card_height = card.bounding_box()["height"]
    assert card_height < 450, card_height  # the viewport is 900 px high: a market row fits, with room
    page_height = page.evaluate("document.documentElement.scrollHeight")
    assert page_height < 3000, page_height  # six markets here: 4,044 px when all the help stood above them
    # The help of a field is folded next to it, and opens there.
    start_help = card.locator("#fr-power-help-start")
    assert not start_help.get_by_text("The sooner the better.").is_visible()
    start_help.locator("summary").click()
    assert start_help.get_by_text("The sooner the better.").is_visible()
    date_box = page.locator("#fr-power-start_date").bounding_box()
    help_box = start_help.bounding_box()
    assert 0 <= help_box["y"] - (date_box["y"] + date_box["height"]) < 80  # right under its input
    assert "fr-power-help-start" in page.locator("#fr-power-start_date").get_attribute("aria-describedby")
    screenshot(page, "wizard-step-2-help-folded")
