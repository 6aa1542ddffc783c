"""The gateway: a thin Flask app that takes requests at three doors and starts workflows.

It parses and authenticates, calls `shared`, and renders; it never does stage work and never
imports `workers`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from urllib.parse import urlsplit

import peewee
import redis
from flask import Flask, Request, Response, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    SecurityError,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import request_body, security_headers, url_numbers
from gateway.api.openapi import KamflowApi
from shared import broker as broker_setup
from shared import db
from shared.config import Settings
from shared.login_throttle import LoginThrottle

log = logging.getLogger(__name__)

csrf = CSRFProtect()

#: What a 503 for a database that did not answer asks a client to wait (a restart, a failover).
DATABASE_RETRY_AFTER_S = 5

ERROR_SUMMARIES = {
    400: "The request body is not valid JSON.",
    422: "The request is not valid: see `errors`, by field.",
}


def _string_keys(value):
    if isinstance(value, dict):
        return {str(key): _string_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_string_keys(item) for item in value]
    return value


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions. A request without the cookie (every API call) gets its
    empty session at once: Flask built the signing serializer first, whether or not there was
    a cookie to read, a fiftieth of the gateway's time on a POST."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(settings: Settings | None = None, *, broker=None) -> Flask:
    settings = (settings or Settings.from_env()).with_secret()
    app = Flask(__name__)
    app.session_interface = CookieSessions()
    # Every <int:...> in a URL, at every door, fits a database id: a larger one is a 404, not a 500.
    app.url_map.converters["int"] = url_numbers.BoundedInt
    if settings.trusted_proxy_count:
        # Behind N proxies, the client address (throttling, rate limits, login audit) and the
        # scheme are the ones the N-th proxy from us reports; without proxies, the socket's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count, x_proto=settings.trusted_proxy_count)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        KAMFLOW=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.lower().startswith("https://"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_max_hours),
        # A form's CSRF token lives as long as the session it is bound to (SESSION_IDLE_MINUTES,
        # SESSION_MAX_HOURS, logout): Flask-WTF's own hour made a page left open while the KAM
        # worked in another tab lose what was typed at 'Save', a time limit no one could see
        # or extend (WCAG 2.2.1).
        WTF_CSRF_TIME_LIMIT=None,
        TRUSTED_HOSTS=settings.trusted_host_list or None,  # a Host outside the list is a 400
        MAX_CONTENT_LENGTH=256 * 1024,  # an account request is a few kB; refuse floods early
        API_TITLE="kamflow CRM API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",  # webhooks are described at the top level (3.1)
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearerAuth": []}],
        },
    )

    request_body.init_app(app)  # a chunked body past MAX_CONTENT_LENGTH: 413, as with a Content-Length

    db.bind(settings.database_url)
    if broker is None:
        broker_setup.setup(settings)

    @app.before_request
    def open_db():
        db.hold_open()  # SQLite: this request's connection is not the last one (shared.db)
        db.database.connect(reuse_if_open=True)

    @app.teardown_request
    def close_db(exc):
        db.release()

    csrf.init_app(app)
    security_headers.init_app(app, secure_cookie=app.config["SESSION_COOKIE_SECURE"])
    api = KamflowApi(app)
    app.extensions["kamflow_login_throttle"] = LoginThrottle(
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        if settings.redis_url
        else None,
        settings,
    )

    from gateway import metrics
    from gateway.api import customer_accounts, markets, optimisations, webhooks
    from gateway.api.docs import docs, require_caller
    from gateway.api.rate_limits import ApiRateLimits, authenticated
    from gateway.health import health
    from gateway.ops import ops
    from gateway.readiness import readiness
    from gateway.web.auth import auth, without_user
    from gateway.web.customers import customers
    from gateway.web.dashboard import dashboard
    from gateway.web.display import display
    from gateway.web.edit_parameters import edit_parameters
    from gateway.web.forecast_pages import forecast_pages
    from gateway.web.help import help_pages
    from gateway.web.my_account import my_account
    from gateway.web.optimisation_pages import optimisation_pages
    from gateway.web.set_password import set_password
    from gateway.web.wizard import wizard

    # The CRM door: JSON, bearer tokens, rate-limited per token (without a valid one, per address).
    api_blueprints = (customer_accounts.blp, optimisations.blp, markets.blp, webhooks.blp)
    rate_limits = ApiRateLimits(
        settings.redis_url or "memory://", settings.api_rate_limit, settings.api_unauthenticated_rate_limit
    )
    rate_limits.init_app(app, api_blueprints)
    for api_blueprint in api_blueprints:
        api.register_blueprint(api_blueprint)
        csrf.exempt(api_blueprint)  # bearer-token API: no cookies, so no CSRF to forge
    app.before_request(require_caller)  # the OpenAPI document and its page need a caller too
    # Health, the KAMs' and customers' pages, and the operators' door (/ops, /readyz, /metrics).
    for blueprint in (
        health,
        readiness,
        docs,
        set_password,
        auth,
        display,
        dashboard,
        customers,
        wizard,
        edit_parameters,
        help_pages,
        my_account,
        optimisation_pages,
        forecast_pages,
        ops,
    ):
        app.register_blueprint(blueprint)
    metrics.init_app(app)

    def _methods_allowed(methods) -> list[str]:
        """The methods that really match the path: werkzeug names a rule's methods in a 405 even
        when its converter refused the value (an id past 64 bits), which is a 404."""
        adapter = app.url_map.bind("localhost")
        allowed = []
        for method in sorted(methods):
            try:
                adapter.match(request.path, method=method)
                allowed.append(method)
            except HTTPException:
                pass
        return allowed

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        """JSON under /api (never an HTML page for an integrator); a page everywhere else."""
        if isinstance(error, SecurityError):  # a Host outside TRUSTED_HOSTS: no URL can be built for it
            return Response(f"{error.description}\n", 400, {"Content-Type": "text/plain; charset=utf-8"})
        if isinstance(error, MethodNotAllowed) and not _methods_allowed(error.valid_methods or ()):
            error = NotFound()
        if request.path.startswith("/api"):
            payload, code, headers = api.handle_http_exception(error)
            # marshmallow keys list items' errors by int index, next to "_schema" strings:
            # JSON wants string keys, and mixed keys cannot be sorted.
            payload = _string_keys(payload)
            if "existing_account" in (data := getattr(error, "data", None) or {}):
                payload["existing_account"] = data["existing_account"]  # a 409 names who holds the claim
            # webargs' validation errors carry no summary: give every error one
            custom = error.description != type(error).description
            payload.setdefault("message", error.description if custom else ERROR_SUMMARIES.get(code, error.description))
            if isinstance(error, MethodNotAllowed):
                headers = {**(headers or {}), "Allow": ", ".join(_methods_allowed(error.valid_methods or ()))}
            if code == 429:
                caller = "this API token" if authenticated() else "your address without a valid API token"
                payload["message"] = f"Too many requests for {caller}: at most {error.description}."
                if (refusal := rate_limits.refusal()) is not None:
                    headers = {**(headers or {}), "Retry-After": str(max(1, int(refusal.reset_at - time.time())))}
            return jsonify(payload), code, headers
        if isinstance(error, CSRFError):
            # An old page (its token is valid for an hour, in the session that opened it) sent
            # after a break or a new login: say what to do, not "Bad Request".
            return render_template("form_expired.html", again=_form_page(), reason=error.description), 400
        return render_template("error.html", error=error), error.code

    def _form_page() -> str:
        """The page a refused form was sent from: its Referer when on this site (browsers send
        it: Referrer-Policy same-origin), else the URL posted to when it also shows a page, else /."""
        referrer = urlsplit(request.referrer or "")
        if referrer.netloc == request.host and referrer.path.startswith("/"):
            return referrer.path + (f"?{referrer.query}" if referrer.query else "")
        if "GET" in _methods_allowed(("GET",)):
            return request.full_path.rstrip("?")
        return "/"

    @app.errorhandler(RecursionError)
    def too_deep(error: RecursionError):
        """JSON nested thousands deep makes the decoder give up: bad input, not a crash."""
        return http_error(BadRequest("The JSON body is nested too deeply."))

    @app.before_request
    def json_bodies_only():
        """A body sent to the API as a form (curl -d) is refused for what it is, rather than
        answered with every field 'missing'. A chunked body has no Content-Length: it is a body
        all the same (it slipped past this check, and was read as no body at all)."""
        has_body = request.content_length or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if (
            request.path.startswith("/api/")
            and request.method in ("POST", "PUT", "PATCH")
            and has_body
            and not request.is_json
        ):
            return http_error(UnsupportedMediaType("Send the body as JSON, with Content-Type: application/json."))

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def database_unavailable(error: peewee.DatabaseError):
        """The database did not answer (down, restarting, out of connections, SQLite's writer
        busy past its timeout): the request was not carried out (its transaction, if any, was
        rolled back), and the same request later will be. A 503 with Retry-After says so to a
        CRM's retry logic and to a person, where a 500 said "a bug"."""
        log.error("database unavailable on %s %s: %s", request.method, request.path, error)
        unavailable = ServiceUnavailable(
            "The database is unavailable for a moment. Nothing was done: send the request again in a few seconds.",
            retry_after=DATABASE_RETRY_AFTER_S,
        )
        if not request.path.startswith("/api"):
            without_user()  # the page's menu would ask the database who is logged in
        response = app.make_response(http_error(unavailable))  # JSON under /api, a page elsewhere
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api"):
            return jsonify(code=500, status="Internal Server Error", message="An unexpected error occurred."), 500
        return render_template("error.html", error=None), 500

    return app
