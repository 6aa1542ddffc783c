"""Over https, as in production: a person logs in, works with forms and logs out in a real
browser. Flask-WTF refuses a form post over https without a Referer of this site, so the pages'
Referrer-Policy must let the browser send it to kamflow (and to no one else)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading

import pytest
from browser import browser_tests
from playwright.sync_api import sync_playwright
from support import PASSWORD
from werkzeug.serving import make_server

from kamflow.embedded_redis import free_port

pytestmark = [
    *browser_tests,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl to make a test certificate"),
]


@pytest.fixture
def https_server(settings, broker, tmp_path):
    """The gateway over TLS (a self-signed certificate) with BASE_URL on https."""
    from gateway import create_app

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    app = create_app(dataclasses.replace(settings, base_url=base_url), broker=broker)
    server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_kam_logs_in_uses_a_form_and_logs_out_over_https(https_server, org):
    from browser import _launch

    with sync_playwright() as playwright:
        chromium = _launch(playwright)
        context = chromium.new_context(base_url=https_server, ignore_https_errors=True)
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            page.goto("/login")
            page.get_by_label("Email").fill(org["kam"].email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("heading", name="Monitoring of activities").wait_for()
            cookie = next(c for c in context.cookies() if c["name"] == "session")
            assert cookie["secure"] and cookie["httpOnly"]

            page.goto("/customers/new")  # a form of the wizard, refused with its message by the field
            page.get_by_role("button", name="Next").click()
            page.locator("#company-error").wait_for()  # the form again, its message by the field

            page.get_by_role("button", name="Logout").click()
            page.get_by_text("You are logged out.").wait_for()
            assert page.url.endswith("/login")
        finally:
            context.close()
            chromium.close()
