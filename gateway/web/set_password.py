"""The page behind the credentials email's link: choose a password, once."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template
from flask_wtf import FlaskForm
from wtforms import PasswordField, ValidationError
from wtforms.validators import DataRequired, EqualTo

from gateway.web.auth import home_url, start_session
from shared import access, password_policy

set_password = Blueprint("set_password", __name__)


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a password.")],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[
            DataRequired(message="Repeat the password."),
            EqualTo("password", message="The two passwords differ."),
        ],
    )
    #: What an attacker would try first for this person (set by the view): their login, names, company.
    about: tuple[str, ...] = ()

    def validate_password(self, field):
        if (reason := password_policy.problem(field.data, self.about)) is not None:
            raise ValidationError(reason)


@set_password.route("/set-password/<token>", methods=["GET", "POST"])
def choose_password(token: str):
    try:
        record = access.usable_token(token)
    except access.InvalidLink as error:
        return render_template("set_password_invalid.html", reason=str(error)), 410
    form = SetPasswordForm()
    user = record.user
    account = user.customer_account.first()
    form.about = (user.email, user.first_name, user.last_name, account.company if account else "")
    if form.validate_on_submit():
        try:
            user = access.set_password(token, form.password.data)
        except access.InvalidLink as error:
            return render_template("set_password_invalid.html", reason=str(error)), 410
        start_session(user)
        flash(f"Your password is set and you are logged in. Next time, log in with {user.email}.", "success")
        return redirect(home_url(), 303)
    return render_template("set_password.html", form=form, login=record.user.email)
