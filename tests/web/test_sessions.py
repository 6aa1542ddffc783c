"""Sessions end on the server: a cookie copied before logout, a password change, a switched-off
login or re-issued credentials opens nothing; login starts a fresh session; lifetimes hold."""

from __future__ import annotations

import dataclasses
import time

import pytest
from browser import Browser
from csrf import csrf_token
from support import PASSWORD, account_request, set_password_link

from shared import access, db
from shared.models import User

STRONG = "violet-harbour-lantern-42"


def copy_of(browser: Browser, app) -> Browser:
    """Another browser holding a copy of `browser`'s session cookie (what a thief would keep)."""
    thief = Browser(app.test_client())
    thief.client.set_cookie("session", browser.client.get_cookie("session").value)
    return thief


def logged_out(browser: Browser, path="/dashboard") -> bool:
    answer = browser.get(path)
    return answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_a_cookie_copied_before_logout_opens_nothing_after_it(app, kam_page):
    thief = copy_of(kam_page, app)
    other_device = Browser(app.test_client()).login("kam@acme-energy.example")
    assert thief.get("/dashboard").status_code == 200
    page = kam_page.get("/dashboard")
    assert kam_page.client.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 302
    assert logged_out(kam_page) and logged_out(thief) and logged_out(other_device)
    assert Browser(app.test_client()).login("kam@acme-energy.example").get("/dashboard").status_code == 200


def test_a_cookie_planted_before_login_keeps_nothing(app, org):
    browser = Browser(app.test_client())
    planted_token = csrf_token(browser.get("/login").text)
    browser.login(org["kam"].email)
    # The CSRF token of the session planted before login is no longer the session's.
    answer = browser.client.post("/customers/new", data={"csrf_token": planted_token, "company": "X"})
    assert answer.status_code == 400
    assert browser.get("/dashboard").status_code == 200


def test_the_session_cookie_is_secure_when_the_site_is_https(settings, broker, org):
    from gateway import create_app

    secure_app = create_app(dataclasses.replace(settings, base_url="https://kamflow.example.com"), broker=broker)
    browser = Browser(secure_app.test_client())
    answer = browser.post_form("/login", {"email": org["kam"].email, "password": PASSWORD})
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_development_keeps_a_cookie_the_browser_sends(client, org):
    answer = Browser(client).post_form("/login", {"email": org["kam"].email, "password": PASSWORD})
    assert "Secure" not in answer.headers["Set-Cookie"]


@pytest.mark.parametrize("clock, hours_ago", [("seen_at", 2), ("login_at", 13)])
def test_idle_and_absolute_lifetimes_end_a_session(kam_page, clock, hours_ago):
    """SESSION_IDLE_MINUTES (60) without a request, or SESSION_MAX_HOURS (12) after login."""
    assert kam_page.get("/dashboard").status_code == 200
    with kam_page.client.session_transaction() as session:
        session[clock] = time.time() - hours_ago * 3600
    assert logged_out(kam_page)


def _set_password_from(mail, client) -> None:
    link = set_password_link(mail)
    page = client.get(link)
    answer = client.post(link, data={"csrf_token": csrf_token(page.text), "password": STRONG, "confirm": STRONG})
    assert answer.status_code == 303, answer.text  # and logged in, with a fresh session


@pytest.mark.usefixtures("worker")
def test_resend_password_change_and_switching_access_off_end_the_customers_sessions(app, api, kam_page, mailbox):
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    (first,) = mailbox.wait_for(1)
    customer = Browser(app.test_client())
    _set_password_from(first.get_body(("plain",)).get_content(), customer.client)
    assert customer.get("/my-account").status_code == 200

    # 1. new credentials are sent: whoever holds the old ones is logged out
    thief = copy_of(customer, app)
    kam_page.post_form(f"/customers/{account_id}/resend-credentials", {}, page_path=f"/customers/{account_id}")
    assert logged_out(customer, "/my-account") and logged_out(thief, "/my-account")

    # 2. the password is changed through the link: sessions opened with the old one end
    assert api.wait_for_status(account_id)["status"] == "active"
    customer.login("claire.martin@foundry.example", STRONG)
    thief = copy_of(customer, app)
    with db.database.connection_context():
        user = User.get(User.email == "claire.martin@foundry.example")
        token = access.issue_set_password_token(user.id, ttl_hours=1)
    _set_password_from(f"http://localhost/set-password/{token}", Browser(app.test_client()).client)
    assert logged_out(thief, "/my-account")

    # 3. the KAM switches access off: the login and every session of it end
    customer.login("claire.martin@foundry.example", STRONG)
    thief = copy_of(customer, app)
    answer = api.client.patch(
        f"/api/v1/customer-accounts/{account_id}", json={"setup": {"app_access": False}}, headers=api.headers
    )
    assert answer.status_code == 200, answer.get_json()
    assert logged_out(thief, "/my-account")


def test_a_form_left_open_for_hours_in_a_session_still_in_use_is_taken(app, kam_page):
    """Step 1 opened, then the KAM worked in another tab for two hours (the session kept alive
    by that work): 'Next' goes on, where the form's own one-hour token once threw away what was
    typed ("The CSRF token has expired")."""
    import itsdangerous
    from browser import STEP1

    class TwoHoursAgo(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 3600

    kam_page.get("/customers/new?fresh=1")
    with kam_page.client.session_transaction() as session:
        bound = session["csrf_token"]  # the session's secret that every form token signs
    serializer = itsdangerous.URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token", signer=TwoHoursAgo)
    page_token = serializer.dumps(bound)  # the token of the step 1 page, as it was signed two hours ago
    assert kam_page.get("/dashboard").status_code == 200  # the other tab's work: the session is in use
    answer = kam_page.client.post("/customers/new", data={"csrf_token": page_token, **STEP1})
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].endswith("/customers/new/setup")


def test_a_form_of_a_session_that_ended_is_still_refused(kam_page):
    page = kam_page.get("/customers/new?fresh=1").text
    with kam_page.client.session_transaction() as session:
        session["seen_at"] = time.time() - 2 * 3600  # idle past SESSION_IDLE_MINUTES
    from browser import STEP1

    answer = kam_page.client.post("/customers/new", data={"csrf_token": csrf_token(page), **STEP1})
    assert answer.status_code in (302, 400)
    assert answer.status_code == 400 or answer.headers["Location"].startswith("/login")


def test_stay_logged_in_starts_the_idle_clock_again(kam_page):
    """The idle warning's button: a session 59 minutes idle gets its hour again; without the
    form's token, or logged out, nothing is kept."""
    page = kam_page.get("/dashboard").text
    assert 'data-session-idle-s="3600"' in page and 'data-session-lead-s="120"' in page
    with kam_page.client.session_transaction() as session:
        session["seen_at"] = time.time() - 59 * 60
    assert kam_page.client.post("/session/keep-alive").status_code == 400  # no CSRF token
    answer = kam_page.client.post("/session/keep-alive", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 204
    with kam_page.client.session_transaction() as session:
        session["seen_at"] -= 30 * 60  # half an hour later: 89 minutes since the dashboard
    assert kam_page.get("/dashboard").status_code == 200
    kam_page.post_form("/logout", page_path="/dashboard")
    assert kam_page.client.post("/session/keep-alive", data={"csrf_token": csrf_token(page)}).status_code in (302, 400)
    assert logged_out(kam_page)
