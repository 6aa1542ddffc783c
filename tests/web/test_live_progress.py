"""The account page's set-up progress is a live region (aria-live=polite) refreshed by polling:
proven in headless Chromium that it is updated in place, as /ops is, so that a screen reader
hears what changed (a stage done, the status) rather than the whole region read again — the
stages, the markets table, the credentials — at every step of the set-up."""

from __future__ import annotations

import dramatiq
from browser import browser_page, browser_tests
from support import account_request

from web.test_accessibility import log_in

pytestmark = browser_tests


def test_the_account_page_updates_its_progress_in_place(live_server, broker, api, org):
    from playwright.sync_api import expect

    account_id = api.create(account_request()).get_json()["id"]  # no worker yet: it waits
    with browser_page(live_server) as page:
        log_in(page, org["kam"].email)
        page.get_by_role("heading", name="Monitoring of activities").wait_for()
        page.goto(f"/customers/{account_id}")
        page.evaluate("""() => {
          const progress = document.getElementById("progress");
          window.kept = [...progress.querySelectorAll("li.stage, h2, [data-testid=status], table")];
          window.added = [];
          new MutationObserver(changes => changes.forEach(c => c.addedNodes.forEach(n => window.added.push(n.textContent))))
            .observe(progress, {childList: true, subtree: true});
        }""")
        worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
        worker.start()
        try:
            expect(page.locator('[data-testid="status"]')).to_have_text("Active", timeout=20_000)
        finally:
            worker.stop()
        assert page.evaluate("window.kept.length") >= 6
        assert page.evaluate("window.kept.every(e => e.isConnected)"), "the region was rewritten, not updated"
        longest = max(page.evaluate("window.added"), key=len, default="")
        assert len(longest) < 300, f"a whole part of the region was put in again (read out again): {longest[:300]!r}"
