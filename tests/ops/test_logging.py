"""Logs: each workflow line carries the account and the stage, JSON when asked, and no secret
(API token, bearer header, set-password link, password) ever reaches the output."""

from __future__ import annotations

import io
import json
import logging

import pytest
from support import account_request, set_password_link

from shared import db, logging_setup


@pytest.fixture
def captured():
    """Everything the root logger writes, formatted as in production (LOG_FORMAT=json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    logging_setup.configure("json", "INFO")
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_every_workflow_line_names_its_account_and_stage(captured, api, worker, mailbox):
    mailbox.refuse_next(3)
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    workflow = [
        e for e in lines if e["logger"].startswith(("workers.", "dramatiq.middleware.retries", "dramatiq.worker"))
    ]
    assert any(e["message"] == "stage gave up after its retries" for e in workflow)
    assert any(e["logger"].startswith("dramatiq.middleware.retries") for e in workflow)  # Dramatiq's own lines too
    for entry in workflow:
        assert entry["account_id"] == account_id, entry
        assert entry["stage"] == "send_credentials", entry


def test_no_secret_reaches_the_log(captured, api, org, worker, mailbox):
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    link_token = set_password_link(mailbox.wait_for(1)[0]).removeprefix("/set-password/")
    log = logging.getLogger("kamflow.test")
    # What careless code might log: a header, a token, a link, a password, a URL with credentials.
    log.info("calling CRM with Authorization: Bearer %s", org["token"])
    log.info("token issued: %s", org["token"])
    log.warning("link https://kamflow.example/set-password/%s bounced", link_token)
    log.info("login attempt password=%s for %s", "correct-horse-battery", "kam@acme-energy.example")
    log.info("connecting to smtp+starttls://mailer:s3cr3t-pw@smtp.example:587")
    try:
        raise ValueError(f"token {org['token']} refused")
    except ValueError:
        log.exception("traceback with a secret in it")
    output = captured.getvalue()
    for secret in (org["token"], org["token"][3:], link_token, "correct-horse-battery", "s3cr3t-pw"):
        assert secret not in output
    assert "Bearer [redacted]" in output and "/set-password/[redacted]" in output and "password=[redacted]" in output
    assert "kam@acme-energy.example" in output  # the rest of the line stays readable


@pytest.fixture
def captured_debug():
    """Everything the root logger writes at LOG_LEVEL=DEBUG, as an operator debugging would set it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old_level, old_peewee = root.level, logging.getLogger("peewee").level
    root.addHandler(handler)
    logging_setup.configure("text", "DEBUG")
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)
    logging.getLogger("peewee").setLevel(old_peewee)


def test_at_debug_level_no_webhook_secret_nor_password_hash_reaches_the_log(captured_debug, api, org):
    from shared import organisations
    from shared.models import User

    secrets = [
        api.client.put("/api/v1/webhook", json={"url": "https://crm.example/hooks"}, headers=api.headers).get_json()[
            "secret"
        ]
        for _ in range(2)  # registered, then rotated: both written to the database
    ]
    with db.database.connection_context():
        organisations.create_staff_user(org["organisation"], "new.kam@acme-energy.example", "kam", "Lantern-Quarry-98!")
        password_hash = User.get(User.email == "new.kam@acme-energy.example").password_hash
    logging.getLogger("kamflow.test").info("endpoint secret is %s", secrets[1])  # careless code
    output = captured_debug.getvalue()
    for secret in secrets:
        assert secret.removeprefix("whsec_") not in output
    assert "whsec_[redacted]" in output
    assert password_hash.split("$")[-1] not in output


def test_text_format_is_readable_and_names_the_account(capsys):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging_setup.TextFormatter())
    handler.addFilter(logging_setup.StageContext())
    handler.addFilter(logging_setup.Redact())
    log = logging.getLogger("kamflow.text-test")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("stage waiting: %s", "outbox claimed", extra={"account_id": 42, "stage": "send_credentials"})
        log.warning("dev inbox: Bearer kf_abcdefghijkl")
    finally:
        log.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(
        "WARNING kamflow.text-test [account_id=42 stage=send_credentials] stage waiting: outbox claimed"
    )
    assert second.endswith("dev inbox: Bearer [redacted]")
