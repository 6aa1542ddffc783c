"""Absolute URLs come from BASE_URL, never from the Host header; a trusted-host list refuses
the others; an idempotent replay never carries a forged host."""

from __future__ import annotations

import dataclasses

import pytest
from support import account_request

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


def test_location_and_links_ignore_a_forged_host_also_on_replay(api):
    headers = {**FORGED, "Idempotency-Key": "crm-forged-1"}
    first = api.create(account_request(), headers=headers)
    assert first.status_code == 202
    account_id = first.get_json()["id"]
    expected = f"http://localhost/api/v1/customer-accounts/{account_id}"
    assert first.headers["Location"] == expected and first.get_json()["links"]["self"] == expected
    honest_retry = api.create(account_request(), headers={"Idempotency-Key": "crm-forged-1"})
    assert honest_retry.headers["Idempotent-Replayed"] == "true"
    assert honest_retry.headers["Location"] == expected and honest_retry.get_json()["links"]["self"] == expected
    listed = api.client.get("/api/v1/customer-accounts", headers={**api.headers, **FORGED}).get_json()
    assert all("evil.example" not in item["links"]["self"] for item in listed["items"])
    one = api.client.get(f"/api/v1/customer-accounts/{account_id}", headers={**api.headers, **FORGED}).get_json()
    assert one["links"]["self"] == expected


@pytest.mark.usefixtures("worker")
def test_the_credentials_email_links_under_base_url_whatever_host_the_request_named(api, mailbox):
    account_id = api.create(account_request(), headers=FORGED).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    (mail,) = mailbox.wait_for(1)
    text = mail.get_body(("plain",)).get_content()
    assert "http://localhost/set-password/" in text and "evil.example" not in text


@pytest.fixture
def trusting_app(settings, broker, org):
    from gateway import create_app

    return create_app(dataclasses.replace(settings, trusted_hosts="kamflow.example.com, localhost"), broker=broker)


@pytest.mark.parametrize("path", ["/login", "/api/v1/customer-accounts", "/healthz"])
def test_a_host_outside_the_trusted_list_is_refused(trusting_app, org, path):
    client = trusting_app.test_client()
    auth = {"Authorization": f"Bearer {org['token']}"}
    assert client.get(path, headers={**auth, "Host": "evil.example"}).status_code == 400
    assert client.get(path, headers={**auth, "Host": "kamflow.example.com"}).status_code == 200
