"""A tenant's webhook URL cannot turn kamflow against its own network: every non-public address,
however written, is refused at registration and again at connect time; no redirect is followed;
one deadline bounds a delivery; the delivery log says a coarse category, not socket text."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared import egress, webhook_transport, webhooks
from shared.db import database
from shared.models import WebhookDelivery

NOT_PUBLIC = [
    # loopback, in every notation a resolver or browser accepts
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://127.000.000.001/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:6379/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://１２７.０.０.１/",
    # private, link-local, CGNAT, unique-local, multicast, reserved, unspecified, benchmarking
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1:8080/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://100.64.0.1/",
    "http://100.100.100.200/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[fec0::10]:8080/",
    "http://[::ffff:10.0.0.1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://198.18.0.1/",
    "http://192.0.0.192/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::1]/",
    "http://[2002:a9fe:a9fe::]/",
    # metadata and internal names
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://instance-data/",
    "http://redis.internal/",
    "http://printer.local/",
    "http://intranet/",
]

MALFORMED = [
    "http://crm.example.com/hook\r\nX-Injected: 1",
    "http://crm.example.com/ho ok",
    "http://crm.example.com/\x00",
    "http://crm.example.com/\u2028",
    "http://crm.example.com\u200b/",
    "http://crm.example.com\\@127.0.0.1/",
    "http://user:pass@crm.example.com/",
    "http://crm.example.com@127.0.0.1/",
    "http://crm.example.com:0/",
    "http://crm.example.com:99999/",
    "http://256.1.1.1/",
    "http://1.2.3.4.5/",
    "http://0x1g.0.0.1/",
    "gopher://crm.example.com/",
    "file:///etc/passwd",
    "http:///hook",
    "http://-crm.example.com/",
    "http://127.1../",
    "http://crm.example.com../",
    "http://crm..example.com/",
]

PUBLIC = [
    "https://crm.acme.example.com/kamflow",
    "http://8.8.8.8/hook",
    "http://134744072/hook",
    "https://[2606:4700:4700::1111]/hook",
    "http://crm.example.com:8443/a?b=c",
    "https://xn--crm-bta.example/",
]


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_every_notation_of_a_non_public_address_is_refused(url):
    with pytest.raises(egress.AddressNotAllowed):
        egress.check_url(url)


@pytest.mark.parametrize("url", MALFORMED)
def test_malformed_urls_and_control_characters_are_refused_even_for_local_development(url):
    with pytest.raises(egress.InvalidUrl):
        egress.check_url(url, allow_private=True)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_urls_are_accepted(url):
    assert egress.check_url(url) == url


@pytest.fixture
def strict_api(settings, broker, org):
    """The CRM API of a deployment with the default WEBHOOK_ALLOW_PRIVATE_NETWORKS=false."""
    from gateway import create_app

    app = create_app(dataclasses.replace(settings, webhook_allow_private_networks=False), broker=broker)
    return app.test_client(), {"Authorization": f"Bearer {org['token']}"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://0x7f.1/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/",
        "http://10.1.2.3/",
        "http://foo\u2029.example/",
    ],
)
def test_the_api_refuses_to_register_a_non_public_url(strict_api, url):
    client, headers = strict_api
    answer = client.put("/api/v1/webhook", json={"url": url}, headers=headers)
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"]["url"]
    assert client.get("/api/v1/webhook", headers=headers).status_code == 404


def test_the_cli_refuses_a_non_public_url_unless_private_networks_are_allowed(kamflow, org, monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "false")
    refused = kamflow("set-webhook", "--org", "acme-energy", "--url", "http://169.254.169.254/")
    assert refused.exit_code == 1 and "public address" in refused.output
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
    assert kamflow("set-webhook", "--org", "acme-energy", "--url", "http://127.0.0.1:9/").exit_code == 0


# --- the transport, against real sockets ------------------------------------------------------


class Receiver:
    """A real HTTP server on loopback whose answer the test chooses."""

    def __init__(self, answer):
        self.hits: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.hits.append(
                    {
                        "path": self.path,
                        "host": self.headers["Host"],
                        "body": self.rfile.read(int(self.headers["Content-Length"])),
                    }
                )
                answer(self)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started = []

    def start(answer):
        started.append(Receiver(answer))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()


def _status(code, location=None):
    def answer(handler):
        handler.send_response(code)
        if location:
            handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(receivers):
    target = receivers(_status(204))
    for code in (301, 302, 303, 307, 308):
        redirecting = receivers(_status(code, f"http://127.0.0.1:{target.port}/stolen"))
        status = webhook_transport.post(
            f"http://127.0.0.1:{redirecting.port}/hook", b"{}", {"Content-Type": "application/json"}, allow_private=True
        )
        assert status == code and "redirects are not followed" in webhook_transport.describe_status(status)
    assert target.hits == []


def test_one_deadline_bounds_a_receiver_that_trickles_its_answer(receivers):
    def trickle(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(40):
            handler.wfile.write(b"X-Slow: a\r\n")
            handler.wfile.flush()
            time.sleep(0.1)  # each byte arrives well within a per-read timeout

    slow = receivers(trickle)
    started = time.monotonic()
    with pytest.raises(webhook_transport.DeliveryError) as failed:
        webhook_transport.post(f"http://127.0.0.1:{slow.port}/", b"{}", {}, allow_private=True, deadline_s=1.0)
    assert failed.value.category == "timeout"
    assert time.monotonic() - started < 2.0


def test_the_connection_goes_to_the_checked_address_resolved_once(receivers, monkeypatch):
    """A rebinding name answers a public address first and loopback next: only one lookup is
    made, and the connection goes to the address that lookup returned and was checked."""
    target = receivers(_status(204))
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.9.9.9", "10.9.9.9"])
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "crm.rebind.example.com":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://crm.rebind.example.com:{target.port}/hook"
    assert webhook_transport.post(url, b"{}", {}, allow_private=True) == 204
    assert lookups == ["crm.rebind.example.com"]
    assert target.hits[0]["host"] == f"crm.rebind.example.com:{target.port}" and target.hits[0]["path"] == "/hook"


def test_a_name_with_any_private_address_is_refused_at_connect_time(receivers, monkeypatch):
    target = receivers(_status(204))
    real = socket.getaddrinfo

    def mixed(host, port, *args, **kwargs):
        if host != "crm.mixed.example.com":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with pytest.raises(webhook_transport.DeliveryError) as failed:
        webhook_transport.post(f"http://crm.mixed.example.com:{target.port}/", b"{}", {})
    assert failed.value.category == "address" and target.hits == []


def test_the_delivery_log_shows_a_category_not_socket_messages(api, org, broker, receivers):
    """A URL stored before the rule (or under another setting) is still refused when connecting;
    a closed port and a port that hangs up read the same to the tenant."""

    def hang_up(handler):
        handler.connection.shutdown(socket.SHUT_RDWR)

    rude = receivers(hang_up)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    strict = lambda url, body, headers: webhook_transport.post(url, body, headers, allow_private=False)  # noqa: E731
    lenient = lambda url, body, headers: webhook_transport.post(url, body, headers, allow_private=True)  # noqa: E731

    attempts = (
        (f"http://127.0.0.1:{rude.port}/", strict),
        (f"http://127.0.0.1:{rude.port}/", lenient),
        (f"http://127.0.0.1:{closed_port}/", lenient),
    )
    accounts = [api.create(_no_access(n)).get_json()["id"] for n in range(len(attempts))]
    errors = []
    with database.connection_context():
        for (url, post), account_id in zip(attempts, accounts, strict=True):
            endpoint, _ = webhooks.register(org["organisation"].id, url, allow_private=True)
            _failed_delivery(endpoint, account_id, f"00000000-0000-4000-8000-00000000000{account_id}", post)
            errors.append(WebhookDelivery.get(WebhookDelivery.endpoint == endpoint).last_error)
            webhooks.unregister(org["organisation"].id)
    assert errors[0] == webhook_transport.CATEGORIES["address"]
    assert errors[1] == errors[2] == webhook_transport.CATEGORIES["connect"]
    assert len(rude.hits) == 1  # only the lenient attempt reached it
    shown = {item["last_error"] for item in api.get("/api/v1/webhook/deliveries").get_json()["items"]}
    assert not any(word in text.lower() for text in shown if text for word in ("refused", "reset", "errno", "remote"))


def test_no_log_line_and_no_retry_reason_carries_the_receivers_path_or_query(api, org, receivers, caplog):
    """Many receivers' URLs are their credential (a chat service's /services/T0/B0/<secret>, an
    automation tool's ?key=): a failed delivery wrote the whole URL to the workers' log and to the
    reason Dramatiq logs and keeps with a dead letter."""

    def hang_up(handler):
        handler.connection.shutdown(socket.SHUT_RDWR)

    rude = receivers(hang_up)
    secret_part = "/services/T0/B0/path-credential-8c1f?key=query-credential-3d9a"
    strict = lambda url, body, headers: webhook_transport.post(url, body, headers, allow_private=False)  # noqa: E731
    lenient = lambda url, body, headers: webhook_transport.post(url, body, headers, allow_private=True)  # noqa: E731
    account_id = api.create(_no_access(0)).get_json()["id"]
    reasons = []
    caplog.set_level("DEBUG")
    with database.connection_context():
        endpoint, _ = webhooks.register(
            org["organisation"].id, f"http://127.0.0.1:{rude.port}{secret_part}", allow_private=True
        )
        for n, post in enumerate((strict, lenient)):
            reasons.append(
                _failed_delivery(endpoint, account_id, f"00000000-0000-4000-8000-0000000000{n}{account_id}", post)
            )
            WebhookDelivery.delete().where(WebhookDelivery.endpoint == endpoint).execute()
    # peewee's DEBUG lines (every SQL parameter) are never on: shared.logging_setup keeps it at INFO.
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name != "peewee")
    assert f"http://127.0.0.1:{rude.port}" in logged and all(f"127.0.0.1:{rude.port}" in r for r in reasons)
    for text in (logged, *reasons):
        assert "credential" not in text and "/services/" not in text


def _failed_delivery(endpoint, account_id: int, delivery_id: str, post) -> str:
    """Store one pending delivery for `endpoint` and run it through `post`, which must fail;
    the DeliveryFailed reason."""
    WebhookDelivery.create(
        delivery_id=delivery_id, endpoint=endpoint, account=account_id, event="account.active", payload={"id": "x"}
    )
    with pytest.raises(webhooks.DeliveryFailed) as failed:
        webhooks.deliver_pending(endpoint.id, post=post)
    return str(failed.value)


def _no_access(n):
    from support import account_request

    return account_request(
        **{
            "customer.email": f"ssrf{n}@foundry.example",
            "customer.customer_reference": f"S{n}",
            "setup": {"app_access": False},
        }
    )
