"""The browser-facing security headers, set by Flask-Talisman on every answer.

- Content-Security-Policy: scripts, styles, images, forms and fetches from this site only, no
  inline script or style (the pages load kamflow.js/ops.js), no plugins, no <base> tricks.
- frame-ancestors 'none' and X-Frame-Options: DENY: no page can be framed, so buttons such as
  Resend and Retry cannot be clickjacked.
- Referrer-Policy: same-origin: a set-password URL carries its token, so no other site is ever
  told a page's URL; kamflow's own forms do send it, because over https Flask-WTF refuses a
  form post without a Referer of this site (its strict check, which `no-referrer` made refuse
  every login).
- X-Content-Type-Options: nosniff; Strict-Transport-Security on https requests.
- Cache-Control: no-store on the pages that carry a secret or take one (set-password, login),
  so a shared browser's history or a proxy does not keep them.

Redirecting http to https is left to the proxy that terminates TLS (`force_https=False`); the
session cookie is Secure when BASE_URL is https (see gateway.create_app).
"""

from __future__ import annotations

from flask import Flask, request
from flask_talisman import Talisman

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}

#: Pages that show or take a secret: never stored by a browser or a proxy.
NO_STORE_ENDPOINTS = {"set_password.choose_password", "auth.login"}


def init_app(app: Flask, secure_cookie: bool) -> None:
    Talisman(
        app,
        force_https=False,
        strict_transport_security=True,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="same-origin",
        session_cookie_secure=secure_cookie,
        session_cookie_http_only=True,
    )

    @app.after_request
    def no_store(response):
        if request.endpoint in NO_STORE_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
