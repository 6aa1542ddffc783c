"""A person's browser in the tests, of two kinds: `Browser`, a Flask test client that logs in and
posts forms with their CSRF token (most page tests), and headless Chromium for the pages whose
script, focus and layout matter — Debian's chromium driven by Playwright (no browser download),
with the flags this sandboxed machine needs. Also what a KAM types in the wizard and how a test
reads a page as a person does."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
from pathlib import Path

import pytest
from csrf import csrf_token
from support import PASSWORD, wait_until

from shared import db
from shared.models import CustomerAccount

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Marks for a module of browser tests: skipped, with the reason, only where there is no Chromium.
browser_tests = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def _launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)


@contextlib.contextmanager
def browser_page(base_url: str, locale: str = "en-US"):
    """A fresh Chromium with one page on `base_url`, a desktop-sized window, in `locale`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        context = browser.new_context(base_url=base_url, locale=locale, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- the test client as a browser, and what a KAM types ---------------------------------------


#: The hidden field of the forms that say what they were made from: the version of the
#: parameters an edit page shows, the customer a wizard's step 2 is for.
SEEN = re.compile(r'<input type="hidden" name="seen" value="([^"]*)">')

STEP1 = {
    "company": "Martin Foundry SAS",
    "customer_reference": "FR-000123",
    "last_name": "Martin",
    "first_name": "Claire",
    "phone": "+33 1 23 45 67 89",
    "email": "claire.martin@foundry.example",
    "is_demo": "no",
}


def in_days(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def step2_with_access(**changes) -> dict:
    """Step 2 answered Yes, with French power and German gas, as a KAM would tick it."""
    data = {
        "app_access": "yes",
        "editor": "customer",
        "markets": ["fr-power", "de-gas"],
        "fr-power-start_date": dt.date.today().isoformat(),
        "fr-power-end_date": in_days(400),
        "fr-power-forecasts": ["application", "manager", "client"],
        "fr-power-max_optimisations": "2",
        "de-gas-start_date": dt.date.today().isoformat(),
        "de-gas-end_date": in_days(200),
        "de-gas-forecasts": ["application"],
        "de-gas-max_optimisations": "1",
    }
    data.update(changes)
    return data


STEP2_NO_ACCESS = {"app_access": "no"}


def form_version(page: str) -> str:
    """What a form on `page` (HTML) was made from (`SEEN`), as it sends it back."""
    found = SEEN.search(page)
    return found.group(1) if found else ""


def text_of(page: str) -> str:
    """The page's visible text, tags removed and spaces collapsed, to assert what a user reads."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def error_of(page: str, field: str) -> str:
    """The error messages shown for `field`, after checking they sit with the field: the
    message's element is tied to the field by aria-describedby (what screen readers read)."""
    messages = re.findall(r'<p class="error" id="' + re.escape(field) + r'-error">(.*?)</p>', page, flags=re.S)
    if not messages:
        return ""
    tag = re.search(r'<(?:input|fieldset|select)\b[^>]*\bid="' + re.escape(field) + r'"[^>]*>', page)
    assert tag, f"no field {field!r} on the page"
    assert f"{field}-error" in tag.group(0), f"the error of {field!r} is not tied to it"
    return " ".join(html.unescape(m) for m in messages)


class Browser:
    """A test client as a person's browser (a KAM, a manager, an operator, a customer): logs in,
    posts forms with the CSRF token of the page they are on, walks the KAM's wizard."""

    def __init__(self, client):
        self.client = client

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def csrf(self, page_path: str) -> str:
        return csrf_token(self.client.get(page_path).text)

    def post_form(self, path, data=None, page_path=None, **kwargs):
        """Post `data` with the token of the form's page: `page_path`, or `path` itself when the
        form posts back to the page showing it; and, as a browser does, what the form was made
        from (`seen`), unless `data` says otherwise."""
        page = self.client.get(page_path or path).text
        seen = {"seen": form_version(page)} if SEEN.search(page) else {}
        sent = {"csrf_token": csrf_token(page), **seen, **(data or {})}
        return self.client.post(path, data=sent, **kwargs)

    def login(self, email, password=PASSWORD):
        answer = self.post_form("/login", {"email": email, "password": password})
        assert answer.status_code == 302, answer.text
        return self

    def step1(self, **changes):
        self.client.get("/customers/new?fresh=1")
        return self.post_form("/customers/new", {**STEP1, **changes})

    def create(self, step2: dict, **step1_changes) -> int:
        """Walk both steps and return the new account's id (from the redirect to its page)."""
        first = self.step1(**step1_changes)
        assert first.status_code == 302, text_of(first.text)
        answer = self.post_form("/customers/new/setup", {**step2, "action": "create"})
        assert answer.status_code == 302, text_of(answer.text)
        return int(re.search(r"/customers/(\d+)$", answer.headers["Location"]).group(1))

    def wait_for_status(self, account_id, statuses=("active", "rejected", "failed"), timeout=20.0):
        """Poll the account's progress as its page does until it reaches one of `statuses`."""
        last = {}

        def reached():
            last["body"] = body = self.client.get(f"/customers/{account_id}/progress").get_json()
            return body if body["status"] in statuses else None

        return wait_until(reached, timeout, lambda: f"account {account_id} still {last['body']['status']!r}")


def accounts_stored() -> list[CustomerAccount]:
    with db.database.connection_context():
        return list(CustomerAccount.select().order_by(CustomerAccount.id))
