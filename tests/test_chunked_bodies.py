"""A body sent without Content-Length (`Transfer-Encoding: chunked`), served as deployed
(gunicorn): held to the same 256 KiB as one with a Content-Length. werkzeug alone handed back
the first 256 KiB of a longer chunked body as if it were the whole: a JSON body past the limit
was called invalid JSON, and one whose first 256 KiB was valid JSON was taken, whatever
followed."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import account_request

from kamflow.embedded_redis import free_port
from shared import db
from shared.models import CustomerAccount

REPO = Path(__file__).resolve().parents[1]
LIMIT = 256 * 1024

pytestmark = pytest.mark.usefixtures("broker")


@pytest.fixture
def gateway(settings, tmp_path):
    """`gunicorn gateway.wsgi:app` on the test's database and Redis: its base address."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SMTP_URL": settings.smtp_url,
        "SECRET_KEY": "s" * 32,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "API_RATE_LIMIT": "100000 per minute",
        "PYTHONPATH": str(REPO),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "gateway.wsgi:app"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                ready = connection.getresponse().status == 200
                connection.close()
                if ready:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def chunked(port: int, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    """POST `body` in 64 KiB chunks, as a streaming client sends one; the server may answer
    and close before it has all of it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", path)
    for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
        connection.putheader(name, value)
    connection.endheaders()
    try:
        for start in range(0, len(body), 64 * 1024):
            part = body[start : start + 64 * 1024]
            connection.send(b"%x\r\n%s\r\n" % (len(part), part))
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before the end: the answer is waiting
    answer = connection.getresponse()
    try:
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def api_headers(org) -> dict:
    return {"Authorization": f"Bearer {org['token']}", "Content-Type": "application/json"}


def stored_accounts() -> int:
    with db.database.connection_context():
        return CustomerAccount.select().count()


def test_a_chunked_account_request_within_the_limit_is_accepted(gateway, org):
    status, _headers, body = chunked(
        gateway, "/api/v1/customer-accounts", json.dumps(account_request()).encode(), api_headers(org)
    )
    assert status == 202, body
    assert stored_accounts() == 1


def test_a_chunked_body_past_the_limit_is_a_413_even_when_its_first_part_is_valid_json(gateway, org):
    """A valid request padded with spaces to exactly the limit, then more: read up to the limit
    alone it is a whole valid request, and was accepted."""
    valid = json.dumps(account_request()).encode()
    body = valid + b" " * (LIMIT - len(valid)) + b'{"kam_email": "someone.else@acme-energy.example"}'
    status, headers, answer = chunked(gateway, "/api/v1/customer-accounts", body, api_headers(org))
    assert status == 413, answer
    error = json.loads(answer)
    assert error["code"] == 413 and headers["Content-Type"] == "application/json"
    assert stored_accounts() == 0  # nothing half-written

    padded = json.dumps({**account_request(), "notes": "x" * LIMIT}).encode()
    status, _headers, answer = chunked(gateway, "/api/v1/customer-accounts", padded, api_headers(org))
    assert status == 413, answer  # not "The request body is not valid JSON"
    assert stored_accounts() == 0


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(gateway, org):
    valid = json.dumps(account_request()).encode()
    status, _headers, answer = chunked(
        gateway, "/api/v1/customer-accounts", valid + b" " * (LIMIT - len(valid)), api_headers(org)
    )
    assert status == 202, answer


def test_a_chunked_form_past_the_limit_is_a_413_page_not_a_form_cut_short(gateway, org):
    connection = http.client.HTTPConnection("127.0.0.1", gateway, timeout=10)
    connection.request("GET", "/login")
    login = connection.getresponse()
    page, cookie = login.read().decode(), login.getheader("Set-Cookie").split(";")[0]
    connection.close()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    form = f"csrf_token={token}&email=kam%40acme-energy.example&pad={'x' * LIMIT}&password=x".encode()
    status, headers, answer = chunked(
        gateway, "/login", form, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    )
    assert status == 413, answer[:300]
    assert headers["Content-Type"].startswith("text/html")
