"""In headless Chromium: a customer follows the emailed link, chooses a password, logs in for
the first time, creates their first optimisation (after one mistake shown by its field) and
reads its calendar of fixing advice; screenshots go to test-artifacts/ to be looked at."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browser import browser_tests, screenshot
from support import account_request, set_password_link

from kamflow.demo import demo_curve_csv
from shared import db
from shared.optimisations import forecasts

pytestmark = [*browser_tests, pytest.mark.usefixtures("worker")]

PASSWORD = "violet-harbour-lantern-42"


@pytest.fixture
def page_locale():
    return "en-GB"


def test_a_customer_logs_in_creates_the_first_optimisation_and_reads_its_calendar(page, api, mailbox):
    with db.database.connection_context():  # the operator has loaded the application's reference curve
        forecasts.upload_csv("application", "fr-power", demo_curve_csv("fr-power"), "operator")
    account_id = api.create(account_request()).get_json()["id"]  # access, the customer edits
    assert api.wait_for_status(account_id)["status"] == "active"
    (message,) = mailbox.wait_for(1)
    link = set_password_link(message)

    page.goto(link)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.get_by_role("button", name="Logout").click()
    # the first login proper, with the email as login
    page.get_by_label("Email").fill("claire.martin@foundry.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Martin Foundry SAS").wait_for()
    screenshot(page, "customer-my-account")

    page.get_by_role("link", name="Your optimisations").click()
    page.get_by_role("heading", name="Optimisations").wait_for()
    assert "0 of at most 2" in page.locator("table").first.inner_text()
    page.get_by_role("link", name="New optimisation").first.click()
    start = (dt.date.today().replace(day=1) + dt.timedelta(days=130)).replace(day=1)
    page.get_by_label("Name").fill("Foundry 2027")
    page.get_by_label("Market").select_option("fr-power")
    page.get_by_label("First delivery month").fill(f"{start:%Y-%m}")
    page.get_by_label("Last delivery month").fill(f"{start.replace(year=start.year + 1) - dt.timedelta(days=1):%Y-%m}")
    page.get_by_label("Volume (MWh)").fill("-1200")
    page.locator('input[name="risk_appetite"][value="low"]').check()
    page.get_by_role("button", name="Create optimisation").click()
    assert "more than 0" in page.locator("#volume_mwh-error").inner_text()
    screenshot(page, "customer-optimisation-form-error")
    page.get_by_label("Volume (MWh)").fill("1200")
    page.locator('input[name="risk_appetite"][value="low"]').check()
    page.get_by_role("button", name="Create optimisation").click()

    page.get_by_role("heading", name="Calendar of fixing advice").wait_for()
    rows = page.locator("section[aria-labelledby=calendar-title] tbody tr")
    assert rows.count() == 4  # low appetite: every fixing allowed (4 by default), evenly spread
    shares = [float(rows.nth(i).locator("td").nth(1).inner_text().rstrip(" %")) for i in range(rows.count())]
    assert sum(shares) == pytest.approx(100) and min(shares) >= 10
    dates = [rows.nth(i).locator("time").get_attribute("datetime") for i in range(rows.count())]
    assert dates == sorted(dates) and dates[0] >= dt.date.today().isoformat()
    assert dates[-1] < start.isoformat()  # the window ends before delivery starts
    prices = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]
    assert all(re.fullmatch(r"\d+\.\d+", p) for p in prices)  # each advice shows the forecast it relied on
    screenshot(page, "customer-first-calendar")
