"""Session login and logout, CSRF, who may see which pages and which accounts."""

from __future__ import annotations

import pytest
from browser import Browser, text_of
from csrf import csrf_token
from support import PASSWORD

from shared import accounts, db
from shared.db import database
from shared.models import User
from shared.schemas import AccountRequestSchema

PAGES = ["/dashboard", "/customers", "/customers/new", "/customers/new/setup"]


def insert(org, kam, company, email):
    """An account written the way the API writes one (no workflow needed to look at pages)."""
    body = AccountRequestSchema().load(
        {
            "kam_email": kam.email,
            "customer": {
                "company": company,
                "last_name": "Doe",
                "first_name": "Jo",
                "phone": "+33 1 23 45 67 89",
                "email": email,
                "is_demo": False,
            },
            "setup": {"app_access": False},
        }
    )
    with database.connection_context():
        return accounts.store_account(org["organisation"], kam, body, actor="test")


@pytest.mark.parametrize("path", PAGES + ["/customers/1", "/customers/1/edit", "/customers/1/progress"])
def test_every_kam_page_needs_a_login(browser, org, path):
    answer = browser.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=")


def test_root_goes_to_login_then_to_the_dashboard(browser, org):
    assert browser.get("/").headers["Location"].endswith("/login")
    browser.login(org["kam"].email)
    assert browser.get("/").headers["Location"].endswith("/dashboard")


def test_login_then_logout(browser, org):
    answer = browser.post_form(
        "/login?next=/customers", {"email": "KAM@acme-energy.example", "password": PASSWORD}, page_path="/login"
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/customers"
    page = browser.get("/customers")
    assert page.status_code == 200 and "kam@acme-energy.example" in text_of(page.text)
    out = browser.client.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert out.status_code == 302
    assert browser.get("/customers").status_code == 302


def test_logout_needs_the_csrf_token(kam_page):
    assert kam_page.client.post("/logout").status_code == 400
    assert kam_page.get("/dashboard").status_code == 200  # still logged in


@pytest.mark.parametrize(
    "email, password",
    [
        ("kam@acme-energy.example", "wrong-password-123"),
        ("nobody@acme-energy.example", PASSWORD),
    ],
)
def test_a_wrong_login_is_refused_without_saying_which_part(browser, org, email, password):
    answer = browser.post_form("/login", {"email": email, "password": password})
    assert answer.status_code == 401
    assert "The email or the password is not right." in text_of(answer.text)
    assert browser.get("/dashboard").status_code == 302


def test_login_without_csrf_token_is_refused(browser, org):
    answer = browser.client.post("/login", data={"email": org["kam"].email, "password": PASSWORD})
    assert answer.status_code == 400
    assert browser.get("/dashboard").status_code == 302  # not logged in


def test_a_form_sent_after_its_token_expired_says_what_to_do(app, kam_page):
    """Not a bare "Bad Request": what happened, that nothing was saved, and a way back."""
    token = kam_page.csrf("/customers")
    app.config["WTF_CSRF_TIME_LIMIT"] = -1  # every token is past its time
    try:
        answer = kam_page.client.post("/customers/new?next=x", data={"csrf_token": token, "company": "Late SAS"})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    page = text_of(answer.text)
    assert answer.status_code == 400
    assert "This form can no longer be sent" in page and "Nothing was saved." in page
    assert "The CSRF token has expired." in page  # the precise reason, for whoever helps them
    assert 'href="/customers/new?next=x"' in answer.text and "Open the page again" in page
    assert "<title>Error:" in answer.text


def test_the_expired_form_page_links_to_the_page_the_form_was_on(app, kam_page):
    """Logout is a POST only: the way back is the page it was sent from (its Referer), not a 405."""
    token = kam_page.csrf("/customers")
    app.config["WTF_CSRF_TIME_LIMIT"] = -1
    try:
        from_page = kam_page.client.post(
            "/logout", data={"csrf_token": token}, headers={"Referer": "http://localhost/customers?q=acme"}
        )
        unknown = kam_page.client.post("/logout", data={"csrf_token": token})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    assert from_page.status_code == 400 and 'href="/customers?q=acme"' in from_page.text
    assert unknown.status_code == 400 and 'href="/"' in unknown.text
    assert kam_page.get("/dashboard").status_code == 200  # still logged in: the logout was refused


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "/%5Cevil.example", "/%5C/evil.example", "/%09/evil.example", "/%0A/evil.example"]
)
def test_a_next_link_to_another_site_is_ignored(browser, org, target):
    """Browsers read `\\` as `/` and drop tabs and line breaks: each of these leaves the site."""
    answer = browser.post_form(
        f"/login?next={target}", {"email": org["kam"].email, "password": PASSWORD}, page_path="/login"
    )
    assert answer.headers["Location"] == "/dashboard"


def test_passwords_are_stored_through_a_kdf(org):
    with db.database.connection_context():
        stored = User.get_by_id(org["kam"].id).password_hash
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_an_inactive_user_cannot_log_in(browser, org):
    with db.database.connection_context():
        User.update(active=False).where(User.id == org["kam"].id).execute()
    answer = browser.post_form("/login", {"email": org["kam"].email, "password": PASSWORD})
    assert answer.status_code == 401


def test_a_customer_does_not_see_kam_pages(app, org):
    with db.database.connection_context():
        from shared import security

        User.create(
            organisation=org["organisation"],
            email="client@buyer.example",
            role="customer",
            password_hash=security.hash_password(PASSWORD),
        )
    customer = Browser(app.test_client()).login("client@buyer.example")
    for path in PAGES:
        answer = customer.get(path)
        assert answer.status_code == 403, path
        assert "These pages are for KAMs and managers." in text_of(answer.text)


def test_a_kam_sees_only_their_accounts_and_a_manager_all_of_the_organisation(
    kam_page, other_kam_page, manager_page, org, other_kam
):
    mine = insert(org, org["kam"], "Mine SARL", "a@mine.example")
    theirs = insert(org, other_kam, "Theirs GmbH", "b@theirs.example")

    kam_list = text_of(kam_page.get("/customers").text)
    assert "Mine SARL" in kam_list and "Theirs GmbH" not in kam_list
    for path in (f"/customers/{theirs.id}", f"/customers/{theirs.id}/progress", f"/customers/{theirs.id}/edit"):
        assert kam_page.get(path).status_code == 404, path
    assert (
        kam_page.post_form(
            f"/customers/{theirs.id}/resend-credentials", {}, page_path=f"/customers/{mine.id}"
        ).status_code
        == 404
    )
    assert kam_page.get(f"/customers/{mine.id}").status_code == 200
    assert "Theirs GmbH" not in text_of(kam_page.get("/dashboard").text)

    assert "Mine SARL" not in text_of(other_kam_page.get("/customers").text)
    assert other_kam_page.get(f"/customers/{mine.id}").status_code == 404

    manager_list = text_of(manager_page.get("/customers").text)
    assert "Mine SARL" in manager_list and "Theirs GmbH" in manager_list
    assert manager_page.get(f"/customers/{theirs.id}").status_code == 200
    assert manager_page.get("/customers/999999").status_code == 404


def test_an_operator_lands_on_ops_after_login(client, org):
    from shared import organisations

    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], "ops@acme-energy.example", "operator", PASSWORD)
    page = client.get("/login")
    answer = client.post(
        "/login", data={"csrf_token": csrf_token(page.text), "email": "ops@acme-energy.example", "password": PASSWORD}
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/ops")


def test_a_new_staff_password_logs_out_the_browsers_logged_in_with_the_old_one(kam_page, org):
    """`make run` gives the demo people new passwords on every start (kamflow.demo): a browser
    still holding a session of the old password was left logged in."""
    from shared import organisations

    assert kam_page.get("/dashboard").status_code == 200
    with db.database.connection_context():
        organisations.set_staff_password(User.get_by_id(org["kam"].id), "quiet-meadow-copper-93")
    answer = kam_page.get("/dashboard")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_an_email_typed_in_another_spelling_of_the_same_address_reaches_its_login(app, org):
    """The login is stored normalised (NFC, the domain in Unicode, lower case): typed with the
    domain in its ASCII (xn--) form or with a decomposed "ä", it was an unknown login."""
    import unicodedata

    from shared import organisations

    with db.database.connection_context():
        stored = organisations.create_staff_user(org["organisation"], "Kim@Exämple.example", "kam", PASSWORD).email
    assert stored == "kim@exämple.example"
    for typed in (" KIM@XN--EXMPLE-CUA.EXAMPLE ", unicodedata.normalize("NFD", "kim@exämple.example")):
        answer = Browser(app.test_client()).post_form("/login", {"email": typed, "password": PASSWORD})
        assert answer.status_code == 302 and answer.headers["Location"] == "/dashboard", typed
    # and its spellings share one throttle count: three wrong guesses, then the wait
    spellings = ["kim@xn--exmple-cua.example", unicodedata.normalize("NFD", "Kim@Exämple.example"), stored, stored]
    codes = [
        Browser(app.test_client()).post_form("/login", {"email": e, "password": "wrong"}).status_code for e in spellings
    ]
    assert codes == [401, 401, 401, 429]
