"""Session login for the KAM pages (Flask-Login), and the guard every KAM page sits behind.

Passwords are checked with shared.security (werkzeug's scrypt). An unknown login, or one
without a password yet, costs the same KDF work as a wrong password, so the answer's timing
does not tell which logins exist. Attempts are throttled (shared.login_throttle) and recorded
(LoginEvent). The session cookie names the user with their session version (shared.sessions):
logout and the other revocations end it on the server, and it also ends after
SESSION_IDLE_MINUTES without a request or SESSION_MAX_HOURS after login.
"""

from __future__ import annotations

import functools
import logging
import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from gateway.page_query import query_value
from shared import client_address, permissions, schemas, security, sessions
from shared.db import database
from shared.models import LoginEvent, User

log = logging.getLogger(__name__)

auth = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


class Login:
    """Flask-Login's view of a user: the row's id, re-read from the database per request."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return sessions.session_id(self.user)

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_staff(self) -> bool:
        return permissions.may(self.user.role, permissions.KAM_PAGES)

    @property
    def sees_operations(self) -> bool:
        """Whether the menu offers /ops: asked of shared.permissions, as the page's guard does."""
        return permissions.may(self.user.role, permissions.OPS)


@auth.record_once
def _setup(state):
    login_manager.init_app(state.app)


@login_manager.user_loader
def _load(session_value: str):
    """The user of this request's session, or None (logged out) when the session was ended on
    the server, the user switched off, or a lifetime is over."""
    settings = current_app.config["KAMFLOW"]
    now = time.time()
    started, seen = session.get("login_at", 0), session.get("seen_at", 0)
    user = None
    if now - started <= settings.session_max_hours * 3600 and now - seen <= settings.session_idle_minutes * 60:
        user = sessions.user_for(session_value)
    if user is None:
        for key in ("_user_id", "_fresh", "_id", "login_at", "seen_at"):
            session.pop(key, None)
        return None
    if now - seen > 30:  # refresh the idle clock, without rewriting the cookie on every request
        session["seen_at"] = now
    return Login(user)


def without_user() -> None:
    """This request's page is shown as to nobody logged in, without asking the database who is
    (its error page when the database is what failed: the menu's user would be read from it)."""
    login_manager._update_request_context_with_user(None)


def door_required(door: str):
    """A view decorator: logged in (else to the login page and back) with a role that may use
    `door` (shared.permissions), else 403 saying who the door is for."""

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if not permissions.may(current_user.role, door):
                abort(403, description=permissions.REFUSALS[door])
            return view(*args, **kwargs)

        return guarded

    return decorate


#: The KAM pages: a KAM or a manager; a customer or an operator gets 403.
staff_required = door_required(permissions.KAM_PAGES)


def current_staff() -> User:
    return current_user.user


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never a redirect elsewhere. Browsers read a backslash as a
    slash and drop tabs and line breaks, so `/\\evil.example` or `/<tab>/evil.example` would
    leave the site as `//evil.example` does: a target with either is refused too."""
    if not target or "\\" in target or any(ord(character) < 0x20 or character == "\x7f" for character in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_url() -> str:
    """Where a logged-in person starts (shared.permissions.HOME): operators on /ops, customers on
    their own account, KAMs and managers on their dashboard."""
    return url_for(permissions.HOME.get(current_user.role, "dashboard.show"))


def start_session(user: User) -> None:
    """Log `user` in with a fresh session: the one way in, for the login form and for a customer
    who has just chosen their password (as identity providers do after activation). Nothing
    planted in the session before (a CSRF token) survives it; its lifetimes start now."""
    session.clear()
    login_user(Login(user))
    session.permanent = True
    session["login_at"] = session["seen_at"] = time.time()


@auth.route("/")
def index():
    return redirect(home_url() if current_user.is_authenticated else url_for("auth.login"))


def _throttle():
    return current_app.extensions["kamflow_login_throttle"]


def _record(email: str, user: User | None, outcome: str) -> None:
    email = schemas.shown(email)  # as typed, but a text column (and a log line) takes no NUL
    LoginEvent.create(email=email[:254], user=user, address=(request.remote_addr or "")[:64], outcome=outcome)
    log.info("login %s for %s from %s", outcome, email, request.remote_addr)


@auth.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    failed, refused = False, None
    next_page = _safe_next(query_value("next") or None)  # a `next` given twice is refused before anything
    if form.validate_on_submit():
        email = schemas.login_email(form.email.data)[:254]
        address = client_address.counted_as(request.remote_addr)
        refusal = _throttle().claim(email, address)
        # No login holds a control character (a NUL is not even SQL text): such an email is an
        # unknown login, refused and counted as any other.
        user = (
            None
            if schemas.has_refused_characters(email)
            else User.get_or_none((User.email == email) & (User.active == True))  # noqa: E712
        )
        if refusal is not None:
            outcome, refused = refusal
            _record(email, user, outcome)
            return render_template("login.html", form=form, failed=False, refused=refused), 429
        if security.password_matches(user.password_hash if user else None, form.password.data) and user:
            _throttle().succeeded(email, address)
            _record(email, user, "success")
            start_session(user)
            return redirect(next_page or home_url())
        _throttle().failed(email, address)
        _record(email, user, "failure")
        failed = True
    return render_template("login.html", form=form, failed=failed, refused=refused), (401 if failed else 200)


@auth.post("/session/keep-alive")
@login_required
def keep_alive():
    """'Stay logged in' of the warning shown before an idle session ends (kamflow.js): the idle
    clock starts again, as at any request, however recent the last one (the loader refreshes it
    only when half a minute old). The session's absolute lifetime still holds."""
    session["seen_at"] = time.time()
    return "", 204


def idle_warning() -> dict:
    """What a page tells kamflow.js of its session's idle limit: the seconds it lasts without a
    request, and how long before its end the warning shows (2 minutes, or half of a shorter limit)."""
    idle_s = current_app.config["KAMFLOW"].session_idle_minutes * 60
    return {"idle_s": idle_s, "lead_s": min(120, idle_s // 2)}


@auth.app_context_processor
def _session_clock() -> dict:
    return {"idle_warning": idle_warning}


@auth.route("/logout", methods=["POST"])
def logout():
    """End this session and every other of the same user: a copied cookie stops working too."""
    if current_user.is_authenticated:
        with database.atomic():
            sessions.end_sessions(current_user.user.id)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
