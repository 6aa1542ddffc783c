"""Switching a customer's login off (access No, or the end of a demo trial) voids its unused
set-password link and ends its sessions; giving access back sends new credentials; a KAM cannot
resend credentials to a login that is switched off."""

from __future__ import annotations

import datetime as dt

import pytest
from browser import Browser, text_of
from csrf import csrf_token
from optimisations.support import move_window
from support import account_request, set_password_link

from shared import access, db, maintenance
from shared.models import User

pytestmark = pytest.mark.usefixtures("worker")

CHOSEN = "violet tractor umbrella 42 pond"
EMAIL = "claire.martin@foundry.example"


def patch(api, account_id, body):
    return api.client.patch(f"/api/v1/customer-accounts/{account_id}", json=body, headers=api.headers)


def choose_password(app, link: str):
    """What the customer does with the link: open it, then submit the form (a CSRF token from
    the same browser's login page when the link shows no form)."""
    customer = Browser(app.test_client())
    page = customer.get(link)
    token = csrf_token(page.text if page.status_code == 200 else customer.get("/login").text)
    answer = customer.client.post(link, data={"csrf_token": token, "password": CHOSEN, "confirm": CHOSEN})
    return page, answer, customer


def logs_in(app, password: str = CHOSEN) -> bool:
    browser = Browser(app.test_client())
    token = csrf_token(browser.get("/login").text)
    answer = browser.client.post("/login", data={"csrf_token": token, "email": EMAIL, "password": password})
    return answer.status_code in (302, 303) and not answer.headers["Location"].startswith("/login")


def password_set() -> bool:
    with db.database.connection_context():
        return User.get(User.email == EMAIL).password_hash is not None


def switched_off_with_an_unused_link(api, mailbox) -> tuple[int, str]:
    """An account given access, its credentials email's link not used yet, then access taken away."""
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    link = set_password_link(mailbox.wait_for(1)[0])
    assert patch(api, account_id, {"setup": {"app_access": False}}).status_code == 200
    return account_id, link


def test_access_off_voids_the_unused_link(app, api, mailbox):
    _, link = switched_off_with_an_unused_link(api, mailbox)
    page, answer, _ = choose_password(app, link)
    assert page.status_code == 410 and "switched off" in page.text
    assert answer.status_code == 410 and "switched off" in answer.text
    assert not password_set() and not logs_in(app)


def test_access_back_sends_new_credentials_and_the_old_link_stays_void(app, api, kam_page, mailbox):
    account_id, old_link = switched_off_with_an_unused_link(api, mailbox)
    assert patch(api, account_id, {"setup": account_request()["setup"]}).status_code == 200
    body = api.wait_for_status(account_id)
    assert body["status"] == "active"
    assert {s["name"]: s["state"] for s in body["stages"]}["send_credentials"] == "done"
    messages = mailbox.wait_for(2)
    page = text_of(kam_page.get(f"/customers/{account_id}").text)
    assert "Credentials resent by system" in page and "(resent)" in page
    assert len(messages) == 2 and messages[1]["To"] == EMAIL
    new_link = set_password_link(messages[1])
    assert new_link != old_link
    page, answer, _ = choose_password(app, old_link)
    assert page.status_code == 410 and answer.status_code == 410 and not password_set()
    page, answer, customer = choose_password(app, new_link)
    assert page.status_code == 200 and answer.status_code == 303
    assert customer.get("/my-account").status_code == 200
    assert logs_in(app)


def test_a_change_of_markets_after_access_came_back_sends_no_further_email(app, api, mailbox):
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    assert patch(api, account_id, {"setup": {"app_access": False}}).status_code == 200
    setup = account_request()["setup"]
    assert patch(api, account_id, {"setup": setup}).status_code == 200
    assert api.wait_for_status(account_id)["status"] == "active"
    mailbox.wait_for(2)
    setup["markets"][0]["max_optimisations"] += 1
    assert patch(api, account_id, {"setup": setup}).status_code == 200
    body = api.wait_for_status(account_id)
    assert {s["name"]: s["state"] for s in body["stages"]}["activate_markets"] == "done"
    assert len(mailbox.messages) == 2


def test_a_link_of_a_switched_off_login_is_refused(app, org):
    """However the link came to exist (issued for a login that is off), it opens nothing."""
    with db.database.connection_context():
        user = User.create(organisation=org["organisation"], email=EMAIL, role="customer", active=False)
        token = access.issue_set_password_token(user.id, ttl_hours=72)
    page, answer, _ = choose_password(app, f"/set-password/{token}")
    assert page.status_code == 410 and answer.status_code == 410
    assert "switched off" in page.text and "switched off" in answer.text
    assert not password_set()


def test_the_end_of_a_trial_voids_the_link_and_ends_sessions_for_good(app, api, mailbox):
    account_id = api.create(account_request(**{"customer.is_demo": True})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    _, answer, customer = choose_password(app, set_password_link(mailbox.wait_for(1)[0]))
    assert answer.status_code == 303 and customer.get("/my-account").status_code == 200
    with db.database.connection_context():
        user = User.get(User.email == EMAIL)
        unused = access.issue_set_password_token(user.id, ttl_hours=72)
    for market in account_request()["setup"]["markets"]:
        move_window(account_id, market["market"], -60, -2)
    with db.database.connection_context():
        assert maintenance.run_daily(dt.date.today(), trial_days=30).summary["trials_ended"] == 1
    assert Browser(app.test_client()).get(f"/set-password/{unused}").status_code == 410
    assert customer.get("/my-account").status_code == 302 and not logs_in(app)

    converted = patch(api, account_id, {"customer": {"is_demo": False}})
    assert converted.status_code == 200, converted.get_json()
    assert logs_in(app)  # the login works again, with its password ...
    assert customer.get("/my-account").status_code == 302  # ... but the session the trial ended stays ended
    assert Browser(app.test_client()).get(f"/set-password/{unused}").status_code == 410


def test_credentials_cannot_be_resent_to_a_switched_off_login(app, api, kam_page, mailbox):
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    mailbox.wait_for(1)
    assert patch(api, account_id, {"setup": {"app_access": False}}).status_code == 200

    answer = api.post(f"/api/v1/customer-accounts/{account_id}/resend-credentials")
    assert answer.status_code == 409 and "no access" in answer.get_json()["message"]
    page = kam_page.post_form(
        f"/customers/{account_id}/resend-credentials", {}, page_path=f"/customers/{account_id}", follow_redirects=True
    )
    assert "no access to the application" in page.text
    assert api.wait_for_status(account_id)["status"] == "active"
    assert len(mailbox.messages) == 1


def test_credentials_cannot_be_resent_once_the_trial_ended(app, api, kam_page, mailbox):
    account_id = api.create(account_request(**{"customer.is_demo": True})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    mailbox.wait_for(1)
    for market in account_request()["setup"]["markets"]:
        move_window(account_id, market["market"], -60, -2)
    with db.database.connection_context():
        maintenance.run_daily(dt.date.today(), trial_days=30)
    answer = api.post(f"/api/v1/customer-accounts/{account_id}/resend-credentials")
    assert answer.status_code == 409 and "trial ended" in answer.get_json()["message"]
    page = kam_page.post_form(
        f"/customers/{account_id}/resend-credentials", {}, page_path=f"/customers/{account_id}", follow_redirects=True
    )
    assert "The demo trial ended" in text_of(page.text)
    assert api.wait_for_status(account_id)["status"] == "active"
    assert len(mailbox.messages) == 1


def trial_over_with_an_unused_link(api, mailbox) -> tuple[int, str]:
    """A demo account given access, its credentials email's link not used yet, then its trial over."""
    account_id = api.create(account_request(**{"customer.is_demo": True})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    link = set_password_link(mailbox.wait_for(1)[0])
    for market in account_request()["setup"]["markets"]:
        move_window(account_id, market["market"], -60, -2)
    with db.database.connection_context():
        assert maintenance.run_daily(dt.date.today(), trial_days=30).summary["trials_ended"] == 1
    return account_id, link


def test_converting_a_demo_after_its_trial_sends_new_credentials(app, api, kam_page, mailbox):
    """Before: the login was given back but its only link had been burned by the trial and no
    email went: the customer could not get in until the KAM found and used 'Resend'."""
    account_id, old_link = trial_over_with_an_unused_link(api, mailbox)
    converted = patch(api, account_id, {"customer": {"is_demo": False}})
    assert converted.status_code == 200, converted.get_json()
    body = api.wait_for_status(account_id)
    assert body["status"] == "active"
    assert {s["name"]: s["state"] for s in body["stages"]}["send_credentials"] == "done"
    messages = mailbox.wait_for(2)
    assert len(messages) == 2 and messages[1]["To"] == EMAIL
    page = text_of(kam_page.get(f"/customers/{account_id}").text)
    assert "Credentials resent by system" in page
    new_link = set_password_link(messages[1])
    page, answer, _ = choose_password(app, old_link)
    assert page.status_code == 410 and answer.status_code == 410 and not password_set()
    page, answer, customer = choose_password(app, new_link)
    assert page.status_code == 200 and answer.status_code == 303
    assert customer.get("/my-account").status_code == 200


def test_converting_a_demo_whose_trial_is_on_sends_nothing(api, mailbox):
    """Its credentials still work: no new ones, no stage runs again."""
    account_id = api.create(account_request(**{"customer.is_demo": True})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    mailbox.wait_for(1)
    assert patch(api, account_id, {"customer": {"is_demo": False}}).status_code == 200
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["status"] == "active"
    assert len(mailbox.messages) == 1


def test_converting_a_demo_after_its_trial_and_taking_access_away_at_once_sends_nothing(api, mailbox):
    account_id, _ = trial_over_with_an_unused_link(api, mailbox)
    answer = patch(api, account_id, {"customer": {"is_demo": False}, "setup": {"app_access": False}})
    assert answer.status_code == 200, answer.get_json()
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["status"] == "active"
    assert len(mailbox.messages) == 1
    with db.database.connection_context():
        assert User.get(User.email == EMAIL).active is False
