"""Session login for the KAM pages (Flask-Login), and the guard every KAM page sits behind.

Passwords are checked with shared.security (werkzeug's scrypt). An unknown login costs the
same KDF work as a wrong password, so the answer's timing does not tell which logins exist.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from shared import security
from shared.models import User
from shared.visibility import STAFF_ROLES

auth = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"

#: Checked against when the login is unknown, so both failures take one KDF's time.
_UNKNOWN_USER_HASH = security.hash_password("no user has this password")


class Login:
    """Flask-Login's view of a user: the row's id, re-read from the database per request."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_staff(self) -> bool:
        return self.user.role in STAFF_ROLES


@auth.record_once
def _setup(state):
    login_manager.init_app(state.app)


@login_manager.user_loader
def _load(user_id: str):
    user = User.get_or_none((User.id == int(user_id)) & (User.active == True))  # noqa: E712
    return Login(user) if user else None


def staff_required(view):
    """Logged in as a KAM or a manager; a customer (or operator) gets 403."""

    @login_required
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_staff:
            abort(403, description="These pages are for KAMs and managers.")
        return view(*args, **kwargs)

    return guarded


def current_staff() -> User:
    return current_user.user


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never a redirect elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_url() -> str:
    """Where a logged-in person starts: operators on /ops, customers on their own account, KAMs
    and managers on their dashboard."""
    if current_user.role == "operator":
        return url_for("ops.page")
    if current_user.role == "customer":
        return url_for("my_account.show")
    return url_for("dashboard.show")


def start_session(user: User) -> None:
    """Log `user` in with a fresh session: the one way in, for the login form and for a customer
    who has just chosen their password (as identity providers do after activation)."""
    login_user(Login(user))


@auth.route("/")
def index():
    return redirect(home_url() if current_user.is_authenticated else url_for("auth.login"))


@auth.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = User.get_or_none((User.email == email) & (User.active == True))  # noqa: E712
        if security.password_matches(user.password_hash if user else _UNKNOWN_USER_HASH, form.password.data) and user:
            start_session(user)
            return redirect(_safe_next(request.args.get("next")) or home_url())
        failed = True
    return render_template("login.html", form=form, failed=failed), (401 if failed else 200)


@auth.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
