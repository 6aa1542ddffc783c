"""Webhooks to a real HTTP receiver: signed, retried while it is down, in order, never twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from support import account_request, document_validator, wait_drained, wait_until

pytestmark = pytest.mark.usefixtures("worker")


class Receiver:
    """A CRM's webhook endpoint: records every request; can be told to fail the next N."""

    def __init__(self):
        self.requests: list[dict] = []
        self.failures_left = 0
        self.lock = threading.Lock()
        self.hold = False  # keep the next request waiting until `released`, then fail it
        self.held = threading.Event()
        self.released = threading.Event()
        self.delay_s = 0.0  # how long the receiver thinks before answering each request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay_s)
                if receiver.hold:
                    receiver.hold = False
                    receiver.held.set()
                    receiver.released.wait(30)
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "answered": 503})
                    self.send_response(503)
                    self.end_headers()
                    return
                with receiver.lock:
                    failing = receiver.failures_left > 0
                    receiver.failures_left -= failing
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": body, "answered": 503 if failing else 204}
                    )
                self.send_response(503 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the listening socket (the receiver is down from now on)."""
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}/kamflow-events"

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["answered"] == 204]

    def wait_accepted(self, count, timeout=20.0) -> list[dict]:
        """Wait for at least `count` accepted deliveries; fail the test if they do not come."""
        return wait_until(
            lambda: len(self.accepted()) >= count and self.accepted(),
            timeout,
            lambda: f"{len(self.accepted())} deliveries accepted, not {count}",
            interval=0.05,
        )


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def secret(api, receiver):
    answer = api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers)
    assert answer.status_code == 201
    return answer.get_json()["secret"]


def test_registering_shows_the_secret_once(api, receiver, secret):
    assert secret.startswith("whsec_")
    shown = api.get("/api/v1/webhook").get_json()
    assert shown["url"] == receiver.url and "secret" not in shown
    assert "webhook-signature: v1," in shown["signature_header"] and shown["previous_secret_valid_until"] is None
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24  # standard base64


@pytest.mark.parametrize(
    "url",
    [
        "ftp://crm.example/hook",
        "not a url",
        "/relative/path",
        "",
        "https://crm:s3cret@crm.example/hook",  # a password in the URL would be stored and shown
        "https://@crm.example/hook",
    ],
)
def test_a_bad_callback_url_is_refused_by_the_server_and_the_document(api, url):
    answer = api.client.put("/api/v1/webhook", json={"url": url}, headers=api.headers)
    assert answer.status_code == 422 and "url" in answer.get_json()["errors"]["json"]
    declared = document_validator(api, "WebhookRegistration")
    assert declared.is_valid({"url": "https://crm.example/hooks/kamflow?from=a@b#x"})
    assert not declared.is_valid({"url": url})


def test_an_account_reaching_active_is_posted_signed(api, receiver, secret):
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "active"
    (request,) = receiver.wait_accepted(1)
    body = json.loads(request["body"])
    assert body["event"] == "account.active" and body["account"]["id"] == account["id"]
    assert body["account"]["links"]["self"] == f"http://localhost/api/v1/customer-accounts/{account['id']}"
    # Standard Webhooks, checked by the receivers' own library.
    assert request["headers"]["webhook-id"] == body["id"]
    assert Webhook(secret).verify(request["body"], request["headers"]) == body
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"not-the-secret-at-all-24b").decode()).verify(
            request["body"], request["headers"]
        )
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request["body"] + b" ", request["headers"])
    with pytest.raises(WebhookVerificationError):  # a replay: the signed timestamp is too old
        Webhook(secret).verify(
            request["body"], {**request["headers"], "webhook-timestamp": str(int(time.time()) - 3600)}
        )
    # The deprecated header, still sent (see README): HMAC over "<t>." + body with the secret string.
    assert request["headers"]["Kamflow-Event"] == "account.active"
    assert request["headers"]["Kamflow-Delivery"] == body["id"]
    t, v1 = (part.split("=", 1)[1] for part in request["headers"]["Kamflow-Signature"].split(","))
    assert v1 == hmac.new(secret.encode(), f"{t}.".encode() + request["body"], hashlib.sha256).hexdigest()

    log = api.get("/api/v1/webhook/deliveries").get_json()
    assert log["total"] == 1
    assert log["items"][0]["state"] == "delivered" and log["items"][0]["last_status_code"] == 204


def test_a_receiver_that_is_down_gets_the_event_later_and_once(api, receiver, secret, redis_client):
    receiver.failures_left = 5  # more than the actor's retries (2): the reconciler must pick it up
    body = account_request(**{"setup.markets.1.forecasts": ["manager"]})  # rejected
    account = api.wait_for_status(api.create(body).get_json()["id"])
    assert account["status"] == "rejected"
    (accepted,) = receiver.wait_accepted(1, timeout=30)
    event = json.loads(accepted["body"])
    assert event["event"] == "account.rejected"
    assert event["account"]["rejection_reasons"] == account["rejection_reasons"]
    delivery_ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(delivery_ids) == 6 and set(delivery_ids) == {event["id"]}  # retried, same id
    wait_drained(redis_client)
    assert len(receiver.accepted()) == 1  # never again once received
    log = api.get("/api/v1/webhook/deliveries").get_json()["items"][0]
    assert log["attempts"] == 6 and log["state"] == "delivered"


def test_events_arrive_in_the_order_they_happened_even_after_an_outage(api, receiver, secret):
    receiver.failures_left = 3
    ids = []
    for n in range(3):
        body = account_request(
            **{
                "customer.email": f"c{n}@foundry.example",
                "customer.customer_reference": f"R{n}",
                "setup": {"app_access": False},
            }
        )
        ids.append(api.create(body).get_json()["id"])
        api.wait_for_status(ids[-1])
    accepted = receiver.wait_accepted(3, timeout=30)
    assert [json.loads(r["body"])["account"]["id"] for r in accepted] == ids
    assert len({r["headers"]["webhook-id"] for r in accepted}) == 3


def test_no_webhook_registered_means_no_delivery(api, receiver, redis_client):
    account = api.wait_for_status(api.create(account_request()).get_json()["id"])
    assert account["status"] == "active"
    wait_drained(redis_client)
    assert receiver.requests == []
    assert api.get("/api/v1/webhook").status_code == 404


def test_replacing_a_broken_url_delivers_the_waiting_events_there_in_order(api, receiver, secret):
    broken = Receiver()
    broken.failures_left = 10**6
    api.client.put("/api/v1/webhook", json={"url": broken.url}, headers=api.headers)
    ids = []
    for n in range(2):
        body = account_request(
            **{
                "customer.email": f"c{n}@foundry.example",
                "customer.customer_reference": f"R{n}",
                "setup": {"app_access": False},
            }
        )
        ids.append(api.create(body).get_json()["id"])
        api.wait_for_status(ids[-1])
    new_secret = api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers).get_json()["secret"]
    accepted = receiver.wait_accepted(2)
    assert [json.loads(r["body"])["account"]["id"] for r in accepted] == ids
    assert all(Webhook(new_secret).verify(r["body"], r["headers"]) for r in accepted)
    broken.stop()


def test_removing_the_url_cancels_what_was_not_delivered(api, receiver, secret):
    receiver.failures_left = 10**6
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    api.wait_for_status(account_id)
    assert api.client.delete("/api/v1/webhook", headers=api.headers).status_code == 204
    (delivery,) = api.get("/api/v1/webhook/deliveries").get_json()["items"]
    assert delivery["state"] == "cancelled"


def test_active_again_after_a_resend_is_not_a_new_event(api, receiver, secret, mailbox, redis_client):
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    receiver.wait_accepted(1)
    assert api.post(f"/api/v1/customer-accounts/{account_id}/resend-credentials").status_code == 202
    assert api.wait_for_status(account_id)["status"] == "active"
    wait_drained(redis_client)
    assert len(mailbox.messages) == 2
    assert [json.loads(r["body"])["event"] for r in receiver.accepted()] == ["account.active"]


def test_an_operator_reads_the_delivery_log_from_the_command_line(api, receiver, secret, kamflow, redis_client):
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    api.wait_for_status(account_id)
    receiver.wait_accepted(1)
    wait_drained(redis_client)  # the delivery is marked delivered after the receiver answered
    output = kamflow("webhook-deliveries", "--org", "acme-energy").output
    assert "1 deliveries" in output
    line = next(line for line in output.splitlines() if "account.active" in line)
    assert str(account_id) in line and "delivered" in line and "HTTP 204" in line


def test_registering_again_rotates_the_secret_with_two_signatures_during_the_overlap(api, receiver, secret):
    """A receiver still holding the previous secret and one already holding the new one both
    verify; `revoke_previous_secret` ends the overlap at once (a leaked secret)."""
    rotated = api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers).get_json()
    new_secret = rotated["secret"]
    assert new_secret != secret and rotated["previous_secret_valid_until"] is not None
    api.wait_for_status(api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"])
    (request,) = receiver.wait_accepted(1)
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert Webhook(secret).verify(request["body"], request["headers"])
    assert Webhook(new_secret).verify(request["body"], request["headers"])

    revoked = api.client.put(
        "/api/v1/webhook", json={"url": receiver.url, "revoke_previous_secret": True}, headers=api.headers
    ).get_json()
    assert revoked["previous_secret_valid_until"] is None
    api.wait_for_status(
        api.create(
            account_request(
                **{
                    "customer.email": "other@foundry.example",
                    "customer.customer_reference": "R2",
                    "setup": {"app_access": False},
                }
            )
        ).get_json()["id"]
    )
    later = receiver.wait_accepted(2)[1]
    assert len(later["headers"]["webhook-signature"].split(" ")) == 1
    assert Webhook(revoked["secret"]).verify(later["body"], later["headers"])
    for old in (secret, new_secret):
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(later["body"], later["headers"])


def test_revoking_the_previous_secret_takes_true_or_false_only(api, receiver, secret):
    """A number or a string is not a yes: the request is refused naming the field, and the
    endpoint is not registered again (no new secret, no overlap begun)."""
    for value in (1, 0, 1.0, "true", None):
        answer = api.client.put(
            "/api/v1/webhook", json={"url": receiver.url, "revoke_previous_secret": value}, headers=api.headers
        )
        assert answer.status_code == 422, value
        assert "revoke_previous_secret" in answer.get_json()["errors"]["json"], value
    shown = api.get("/api/v1/webhook").get_json()
    assert shown["previous_secret_valid_until"] is None and "secret" not in shown


def test_a_url_removed_while_a_post_is_in_flight_stays_cancelled(api, receiver, secret, redis_client):
    """DELETE answered while the receiver is still thinking about a POST that then fails: the
    event stays cancelled, and a URL registered later does not inherit it."""
    receiver.hold = True
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    api.wait_for_status(account_id)
    assert receiver.held.wait(20), "the delivery never reached the receiver"
    assert api.client.delete("/api/v1/webhook", headers=api.headers).status_code == 204
    receiver.released.set()  # the receiver answers 503 to the POST that was in flight
    wait_drained(redis_client)
    later = Receiver()
    try:
        assert api.client.put("/api/v1/webhook", json={"url": later.url}, headers=api.headers).status_code == 201
        wait_drained(redis_client)
        assert later.requests == []
        (delivery,) = api.get("/api/v1/webhook/deliveries").get_json()["items"]
        assert delivery["state"] == "cancelled" and delivery["account_id"] == account_id
    finally:
        later.stop()


def test_an_account_active_before_the_url_existed_is_not_announced_active_after_a_change(
    api, receiver, redis_client, mailbox
):
    """As a new integrator tries it: account active, then PUT the webhook, then PATCH a new
    market. The account runs activate_markets again and is active again, but did not *become*
    active: no 'account.active' delivery. A new account still gets its one."""
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    secret = api.client.put("/api/v1/webhook", json={"url": receiver.url}, headers=api.headers).get_json()["secret"]
    setup = account_request()["setup"]
    setup["markets"].append(
        {
            "market": "fr-gas",
            "end_date": setup["markets"][0]["end_date"],
            "forecasts": ["application"],
            "max_optimisations": 1,
        }
    )
    answer = api.client.patch(f"/api/v1/customer-accounts/{account_id}", json={"setup": setup}, headers=api.headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "activating"
    assert api.wait_for_status(account_id)["status"] == "active"
    wait_drained(redis_client)
    assert receiver.requests == []
    assert api.get("/api/v1/webhook/deliveries").get_json()["items"] == []

    second = api.create(
        account_request(**{"customer.email": "other@foundry.example", "customer.customer_reference": "R2"})
    ).get_json()["id"]
    assert api.wait_for_status(second)["status"] == "active"
    wait_drained(redis_client)
    (event,) = [json.loads(r["body"]) for r in receiver.accepted()]
    assert event["event"] == "account.active" and event["account"]["id"] == second
    assert Webhook(secret).verify(receiver.accepted()[0]["body"], receiver.accepted()[0]["headers"])
