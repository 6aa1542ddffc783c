"""/ops in headless Chromium under load: the page refreshes itself as the backlog grows, in place
(the keyboard focus stays where it was, nothing is announced every few seconds), passes axe-core's
WCAG 2.1 AA audit, and the Retry button works from the browser. The screenshot (test-artifacts/ops-under-load.png) is for
a person to look at."""

from __future__ import annotations

import dramatiq
from accessibility import assert_accessible
from browser import browser_page, browser_tests, screenshot
from support import PASSWORD, account_request

pytestmark = browser_tests


def request(n: int, **changes):
    return account_request(
        **{"customer.email": f"c{n}@foundry.example", "customer.customer_reference": f"R{n}", **changes}
    )


def test_ops_under_load_refreshes_by_itself_and_retries_from_the_browser(live_server, broker, api, operator, mailbox):
    from playwright.sync_api import expect

    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:  # some history: accounts through, one rejected, two failed at send_credentials
        ids = [api.create(request(n, **{"setup": {"app_access": False}})).get_json()["id"] for n in range(4)]
        ids.append(api.create(request(4, **{"setup.markets.1.forecasts": ["application", "manager"]})).get_json()["id"])
        for n in (5, 6):
            mailbox.refuse_next(3)
            ids.append(api.create(request(n)).get_json()["id"])
            assert api.wait_for_status(ids[-1])["status"] == "failed"
        for account_id in ids:
            api.wait_for_status(account_id)
    finally:
        worker.stop()
    for n in range(7, 15):  # the workers are gone: a backlog builds up
        api.create(request(n, **{"setup": {"app_access": False}}))

    with browser_page(live_server) as page:
        page.goto("/ops")
        page.fill("input[name=email]", operator.email)
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url("**/ops")
        ready = page.locator('tr[data-queue="validate_customer"] [data-count="ready"]')
        expect(ready).to_have_text("8")
        link = page.locator(f'tr[data-account="{ids[5]}"] a')
        link.focus()
        for n in range(15, 18):
            api.create(request(n, **{"setup": {"app_access": False}}))
        expect(ready).to_have_text("11", timeout=12_000)  # no reload: the panel refreshed itself
        # ... in place: the link a keyboard user was on still has the focus.
        assert link.evaluate("a => a === document.activeElement"), "the refresh dropped the keyboard focus"
        assert page.locator("#ops-updated").evaluate("e => !e.closest('[aria-live], [role=status]')")
        expect(page.locator('tr[data-queue="send_credentials"] [data-count="dead"]')).to_have_text("2")
        expect(page.locator("[data-testid=problems] tbody tr")).to_have_count(3)
        screenshot(page, "ops-under-load")
        assert_accessible(page, "/ops under load")

        page.locator(f'tr[data-account="{ids[5]}"] button', has_text="Retry").click()
        expect(page.locator(".flash-success")).to_contain_text("send_credentials sent again")
        expect(page.locator("[data-testid=problems] tbody tr")).to_have_count(2)
        page.locator(f'a[href="/ops/accounts/{ids[6]}"]').first.click()
        expect(page.locator("[data-testid=timeline] tbody tr")).to_have_count(6)
        screenshot(page, "ops-timeline")
        assert_accessible(page, "an account's timeline")


def open_ops_refreshing_every_second(page, operator, monkeypatch) -> None:
    """/ops open in `page`, logged in as the operator, refreshing every second (not 5 s)."""
    from gateway.ops import pages

    monkeypatch.setattr(pages, "REFRESH_SECONDS", 1)
    page.goto("/ops")
    page.fill("input[name=email]", operator.email)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url("**/ops")


def test_a_failing_refresh_is_announced_once_not_at_every_attempt(page, operator, monkeypatch):
    """The refresh error is a status message (read out when it changes): while the panel keeps
    failing, the same words must not be written again at each attempt, or a screen reader says
    them again every few seconds."""
    from playwright.sync_api import expect

    open_ops_refreshing_every_second(page, operator, monkeypatch)
    page.evaluate("""() => { window.announced = 0;
      new MutationObserver(changes => { window.announced += changes.length; })
        .observe(document.getElementById("ops-refresh-error"), {childList: true, characterData: true, subtree: true}); }""")
    page.route("**/ops/panel*", lambda route: route.fulfill(status=503, body="down for maintenance"))
    failure = page.locator("#ops-refresh-error")
    expect(failure).to_contain_text("The refresh failed")
    page.wait_for_timeout(3_500)  # three more failed attempts
    assert page.evaluate("window.announced") == 1, "the same failure was written into the status again"
    page.unroute("**/ops/panel*")
    expect(failure).to_be_empty()


def test_the_refresh_can_be_paused_and_resumed_with_the_keyboard(page, operator, monkeypatch):
    """Content that updates by itself for longer than 5 s can be paused (WCAG 2.2.2): a person
    reading a row, or whose screen reader is on it, stops the refresh and starts it again."""
    from playwright.sync_api import expect

    open_ops_refreshing_every_second(page, operator, monkeypatch)
    fetched = []
    page.on("request", lambda request: fetched.append(request.url) if "/ops/panel" in request.url else None)
    pause = page.get_by_role("button", name="Pause the refresh")
    pause.focus()
    page.keyboard.press("Enter")
    expect(pause).to_have_attribute("aria-pressed", "true")
    paused_at = len(fetched)
    page.wait_for_timeout(2_500)  # two refreshes' time
    assert len(fetched) == paused_at, "the page went on refreshing while paused"
    page.keyboard.press("Enter")
    expect(pause).to_have_attribute("aria-pressed", "false")
    page.wait_for_timeout(1_500)
    assert len(fetched) > paused_at, "the refresh did not start again"
