"""A test client that behaves like a KAM's browser: logs in, posts forms with their CSRF
token, walks the wizard. Shared by the page tests (fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
import html
import re
import time

from csrf import csrf_token

from shared import db
from shared.models import CustomerAccount

PASSWORD = "correct-horse-battery"

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


def csrf_of(page: str) -> str:
    return csrf_token(page)


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
    def __init__(self, client):
        self.client = client

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post_form(self, path, data, page_path=None, **kwargs):
        token = csrf_of(self.client.get(page_path or path).text)
        return self.client.post(path, data={"csrf_token": token, **data}, **kwargs)

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
        deadline = time.monotonic() + timeout
        while True:
            body = self.client.get(f"/customers/{account_id}/progress").get_json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, f"account {account_id} still {body['status']!r} after {timeout} s"
            time.sleep(0.1)


def accounts_stored() -> list[CustomerAccount]:
    with db.database.connection_context():
        return list(CustomerAccount.select().order_by(CustomerAccount.id))
