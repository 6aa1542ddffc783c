"""Security headers on every door: a CSP without inline script, no framing (clickjacking of
Resend and Retry), no referrer sent to another site, nosniff; the set-password and login pages are never stored."""

from __future__ import annotations

import re

import pytest

from shared import access, db
from shared.models import User


def csp_of(answer) -> dict[str, str]:
    policy = answer.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize(
    "path",
    ["/login", "/dashboard", "/customers", "/customers/new", "/ops", "/api/v1/markets", "/no-such-page", "/healthz"],
)
def test_every_answer_carries_the_security_headers(manager_page, path):
    answer = manager_page.get(path)
    policy = csp_of(answer)
    assert policy["script-src"] == "'self'" and "unsafe-inline" not in answer.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'" and answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/login", "/dashboard", "/customers", "/customers/new", "/ops", "/my-account"])
def test_no_page_has_inline_script_or_event_handlers(manager_page, path):
    page = manager_page.get(path).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+\s*=", page, flags=re.I)
    assert not re.search(r"javascript:", page, flags=re.I)


def test_the_set_password_page_is_never_stored_nor_referred(client, org):
    with db.database.connection_context():
        user = User.create(organisation=org["organisation"], email="claire@foundry.example", role="customer")
        token = access.issue_set_password_token(user.id, ttl_hours=1)
    for answer in (client.get(f"/set-password/{token}"), client.get("/set-password/unknown"), client.get("/login")):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Referrer-Policy"] == "same-origin"
