"""The account-creation workflow end to end: API -> Redis -> Dramatiq workers -> database -> SMTP."""

from __future__ import annotations

import pytest
from csrf import csrf_token
from support import DELETE, PASSWORD, account_request, set_password_link, wait_drained

from shared import db, organisations
from shared.models import CustomerAccount, OutboxEmail, User

pytestmark = pytest.mark.usefixtures("worker")


def test_account_with_access_walks_every_stage_and_the_contact_gets_working_credentials(api, client, mailbox):
    answer = api.create(account_request())
    assert answer.status_code == 202
    account = answer.get_json()
    assert account["status"] == "pending"
    assert answer.headers["Location"].endswith(f"/api/v1/customer-accounts/{account['id']}")

    account = api.wait_for_status(account["id"])
    assert account["status"] == "active"
    assert [(s["name"], s["state"]) for s in account["stages"]] == [
        ("validate_customer", "done"),
        ("provision_access", "done"),
        ("activate_markets", "done"),
        ("send_credentials", "done"),
    ]
    assert {m["market"]: m["active"] for m in account["markets"]} == {"fr-power": True, "de-gas": True}
    assert account["customer"]["phone"] == "+33123456789"  # stored normalised

    (message,) = mailbox.wait_for(1)
    assert message["To"] == "claire.martin@foundry.example"
    assert message["From"] == "noreply@optimization.energy"
    assert message["Date"] and message["Message-ID"].endswith("@optimization.energy>")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Login: claire.martin@foundry.example" in text
    assert "claire.martin@foundry.example" in html
    assert "password:" not in text.lower()  # a link to choose one, never a password in clear

    link = set_password_link(message)
    page = client.get(link)
    assert page.status_code == 200
    assert "claire.martin@foundry.example" in page.text
    done = client.post(
        link, data={"csrf_token": csrf_token(page.text), "password": "a-long-secret-1", "confirm": "a-long-secret-1"}
    )
    # Logged in at once, with a new session, on their own account (no second login).
    assert done.status_code == 303 and done.headers["Location"].endswith("/my-account")
    mine = client.get("/my-account")
    assert mine.status_code == 200 and "Foundry" in mine.text
    assert "Your password is set and you are logged in" in mine.text
    with db.database.connection_context():
        user = User.get(User.email == "claire.martin@foundry.example")
    assert user.role == "customer" and user.password_hash and "a-long-secret-1" not in user.password_hash

    again = client.get(link)
    assert again.status_code == 410
    assert "already been used" in again.text


def test_set_password_form_shows_errors_and_does_not_burn_the_link(api, client, mailbox):
    account = api.create(account_request()).get_json()
    assert api.wait_for_status(account["id"])["status"] == "active"
    link = set_password_link(mailbox.wait_for(1)[0])
    page = client.get(link)
    short = client.post(link, data={"csrf_token": csrf_token(page.text), "password": "short", "confirm": "short"})
    assert short.status_code == 200 and "at least 12 characters" in short.text
    forged = client.post(link, data={"password": "a-long-secret-1", "confirm": "a-long-secret-1"})
    assert forged.status_code == 400 and "CSRF token is missing" in forged.text  # forged: nothing set
    assert client.get(link).status_code == 200  # the link still works


def test_account_without_access_becomes_active_and_no_email_is_sent(api, mailbox, redis_client):
    body = account_request(**{"setup": {"app_access": False}})
    account = api.create(body).get_json()
    account = api.wait_for_status(account["id"])
    assert account["status"] == "active"
    assert [(s["name"], s["state"]) for s in account["stages"]] == [
        ("validate_customer", "done"),
        ("provision_access", "skipped"),
        ("activate_markets", "skipped"),
        ("send_credentials", "skipped"),
    ]
    assert account["markets"] == []
    wait_drained(redis_client)
    assert mailbox.messages == []
    with db.database.connection_context():
        assert not User.select().where(User.email == "claire.martin@foundry.example").exists()


def test_email_already_used_as_a_login_is_refused_at_once_with_the_reason(api, org, mailbox, redis_client):
    """(The validate stage's own check of a login: tests/test_claims.py.)"""
    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], "claire.martin@foundry.example", "kam", PASSWORD)
    answer = api.create(account_request())
    assert answer.status_code == 409
    assert "already used as a login" in answer.get_json()["errors"]["json"]["customer"]["email"][0]
    with db.database.connection_context():
        assert not CustomerAccount.select().exists()
    wait_drained(redis_client)
    assert mailbox.messages == []


def test_manager_forecast_where_the_manager_inserted_none_is_rejected(api):
    body = account_request(**{"setup.markets.1.forecasts": ["manager"]})  # de-gas: no manager forecasts
    account = api.wait_for_status(api.create(body).get_json()["id"])
    assert account["status"] == "rejected"
    assert list(account["rejection_reasons"]) == ["setup.markets.de-gas.forecasts"]
    assert "manager has inserted forecasts" in account["rejection_reasons"]["setup.markets.de-gas.forecasts"][0]


def test_market_not_offered_by_the_organisation_is_rejected(api):
    body = account_request(**{"setup.markets.1.market": "gb-gas"})
    account = api.wait_for_status(api.create(body).get_json()["id"])
    assert account["status"] == "rejected"
    assert account["rejection_reasons"] == {
        "setup.markets.gb-gas.market": ["Your organisation does not offer this market."]
    }


def test_second_live_account_with_the_same_email_or_reference_is_refused_and_a_rejected_one_frees_them(api):
    first = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert first["status"] == "active"
    same_email = account_request(**{"customer.customer_reference": "FR-999"})
    assert api.create(same_email).status_code == 409

    same_reference = account_request(**{"customer.email": "other@foundry.example", "setup": {"app_access": False}})
    refused = api.create(same_reference)
    assert refused.status_code == 409
    assert list(refused.get_json()["errors"]["json"]["customer"]) == ["customer_reference"]

    # A rejected request holds nothing: the email is free for a corrected one.
    wrong = account_request(
        **{
            "customer.email": "other@foundry.example",
            "customer.customer_reference": "FR-2",
            "setup.markets.1.market": "gb-gas",
        }
    )
    assert api.wait_for_status(api.create(wrong).get_json()["id"])["status"] == "rejected"
    corrected = account_request(
        **{
            "customer.email": "other@foundry.example",
            "customer.customer_reference": "FR-2",
            "setup": {"app_access": False},
        }
    )
    assert api.wait_for_status(api.create(corrected).get_json()["id"])["status"] == "active"


def test_customer_reference_is_optional(api):
    body = account_request(**{"customer.customer_reference": DELETE, "setup": {"app_access": False}})
    account = api.wait_for_status(api.create(body).get_json()["id"])
    assert account["status"] == "active"
    assert account["customer"]["customer_reference"] is None


def test_smtp_refusing_once_is_retried_and_the_email_arrives_exactly_once(api, mailbox, redis_client):
    mailbox.refuse_next(1)
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "active"
    send = next(s for s in account["stages"] if s["name"] == "send_credentials")
    assert send["attempts"] == 2 and send["state"] == "done" and send["error"] is None
    wait_drained(redis_client)
    assert len(mailbox.messages) == 1


def test_stage_that_exhausts_its_retries_fails_at_that_stage_and_an_operator_retry_completes_it(api, mailbox):
    from shared import operations

    mailbox.refuse_next(3)  # max_retries=2 in tests: the first try and two retries are all refused
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "failed"
    send = next(s for s in account["stages"] if s["name"] == "send_credentials")
    assert send["state"] == "failed" and send["attempts"] == 3
    # the server's reply as text, for the operator: not a Python exception's repr with bytes
    assert "the mail server refused the email for now: 451 4.3.0 Temporarily unable" in send["error"]
    assert "b'" not in send["error"]
    with db.database.connection_context():
        assert OutboxEmail.get().state == "pending"  # not sent, so it may be sent on retry

    with db.database.connection_context():
        assert operations.retry(account["id"]) == "send_credentials"
    account = api.wait_for_status(account["id"])
    assert account["status"] == "active"
    assert len(mailbox.wait_for(1)) == 1


def test_a_mail_server_refusing_the_email_for_good_fails_the_account_at_once_with_its_reply(api, mailbox, redis_client):
    """A 5xx is the mail server saying that trying again will not help (no such mailbox, the
    message refused): the stage gives up at its first attempt instead of retrying it, and the
    account is failed with the server's reply, for the operator. An operator's retry, once the
    cause is mended, sends the email once."""
    from shared import operations

    mailbox.refuse_next(1, reply="550 5.1.1 <claire.martin@foundry.example>: mailbox unavailable")
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "failed"
    send = next(s for s in account["stages"] if s["name"] == "send_credentials")
    assert send["state"] == "failed" and send["attempts"] == 1
    assert "refused the email for good" in send["error"] and "550 5.1.1" in send["error"]
    assert "mailbox unavailable" in send["error"] and "b'" not in send["error"]  # the reply as text
    wait_drained(redis_client)
    assert mailbox.messages == []

    with db.database.connection_context():
        assert operations.retry(account["id"]) == "send_credentials"
    assert api.wait_for_status(account["id"])["status"] == "active"
    wait_drained(redis_client)
    assert len(mailbox.messages) == 1


def test_running_a_stage_twice_sends_one_email(api, broker, mailbox):
    """At-least-once delivery: a duplicate message for a finished stage changes nothing."""
    from shared import broker as broker_setup

    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "active"
    for stage in ("validate_customer", "provision_access", "activate_markets", "send_credentials"):
        broker_setup.send_stage(stage, account["id"])
    broker.join("send_credentials")
    broker.join("validate_customer")
    wait_drained(broker.client)
    assert len(mailbox.messages) == 1
    with db.database.connection_context():
        assert CustomerAccount.get_by_id(account["id"]).status == "active"
        assert OutboxEmail.select().count() == 1


def test_the_timeline_records_every_attempt_with_its_worker_and_error(api, mailbox):
    from shared.models import StageAttempt

    mailbox.refuse_next(1)
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "active"
    with db.database.connection_context():
        attempts = list(
            StageAttempt.select()
            .where(StageAttempt.account == account["id"])
            .order_by(StageAttempt.started_at, StageAttempt.id)
        )
    assert [(a.stage, a.attempt, a.outcome) for a in attempts] == [
        ("validate_customer", 1, "done"),
        ("provision_access", 1, "done"),
        ("activate_markets", 1, "done"),
        ("send_credentials", 1, "retrying"),
        ("send_credentials", 2, "done"),
    ]
    assert "451" in attempts[3].error and attempts[4].error is None
    assert all(a.worker and a.finished_at >= a.started_at for a in attempts)


def test_a_stage_that_raises_after_writing_leaves_nothing_half_done_and_its_attempt_is_on_the_timeline(
    api, monkeypatch, mailbox
):
    """A stage's work and its bookkeeping commit together or not at all: the retry starts
    from a clean account, and the attempt that raised is still there for an operator."""
    from shared import entitlements
    from shared.models import MarketAccess, StageAttempt

    real = entitlements.activate_markets
    active_at_start = []

    def activate_then_fail_once(account):
        active_at_start.append(
            MarketAccess.select()
            .where((MarketAccess.account == account.id) & MarketAccess.activated_at.is_null(False))
            .count()
        )
        activated = real(account)
        if len(active_at_start) == 1:
            raise ConnectionError("the entitlement service hung up")
        return activated

    monkeypatch.setattr(entitlements, "activate_markets", activate_then_fail_once)
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "active"
    assert active_at_start == [0, 0]  # the first attempt's activations were rolled back with it
    assert {m["market"]: m["active"] for m in account["markets"]} == {"fr-power": True, "de-gas": True}
    with db.database.connection_context():
        attempts = list(
            StageAttempt.select()
            .where((StageAttempt.account == account["id"]) & (StageAttempt.stage == "activate_markets"))
            .order_by(StageAttempt.attempt)
        )
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "retrying"), (2, "done")]
    assert attempts[0].error == "ConnectionError: the entitlement service hung up" and attempts[1].error is None
    assert all(a.worker and a.finished_at >= a.started_at for a in attempts)
    activate = next(s for s in account["stages"] if s["name"] == "activate_markets")
    assert activate["state"] == "done" and activate["attempts"] == 2


def test_the_customer_logs_in_with_the_emailed_link_and_sees_only_their_own_account(api, client, mailbox):
    other = account_request(
        **{
            "customer.email": "someone@else.example",
            "customer.company": "Other Corp",
            "customer.customer_reference": "OTHER",
        }
    )
    assert api.wait_for_status(api.create(other).get_json()["id"])["status"] == "active"
    assert api.wait_for_status(api.create(account_request()).get_json()["id"])["status"] == "active"
    message = next(m for m in mailbox.wait_for(2) if m["To"] == "claire.martin@foundry.example")
    link = set_password_link(message)
    page = client.get(link)
    client.post(
        link, data={"csrf_token": csrf_token(page.text), "password": "a-long-secret-1", "confirm": "a-long-secret-1"}
    )

    login = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(login.text),
            "email": "claire.martin@foundry.example",
            "password": "a-long-secret-1",
        },
    )
    assert answer.headers["Location"].endswith("/my-account")
    mine = client.get("/my-account")
    assert mine.status_code == 200
    assert "Martin Foundry SAS" in mine.text and "Other Corp" not in mine.text
    assert "France power" in mine.text and "Germany gas" in mine.text
    assert "You do: you insert and modify the parameters" in mine.text  # editor: the customer
    assert client.get("/customers").status_code == 403  # no KAM page for a customer
    assert client.get("/dashboard").status_code == 403
