"""The customer's own login: provisioning it, and setting its password through a one-time link."""

from __future__ import annotations

import contextlib
import datetime as dt

from shared import claims, security, sessions
from shared.db import database
from shared.models import CustomerAccount, SetPasswordToken, User, utcnow

Problems = dict[str, list[str]]


def provision_login(account: CustomerAccount) -> Problems:
    """Create the customer's user (role customer, login = the account's email), once.
    Returns problems if the email turned out to be someone else's login."""
    if account.user_id:
        return {}
    # ON CONFLICT DO NOTHING (OR IGNORE on SQLite) instead of catching the IntegrityError:
    # no savepoint to take and release around it, inside the stage's transaction.
    inserted = list(
        User.insert(
            organisation=account.organisation_id,
            email=account.email,
            role="customer",
            first_name=account.first_name,
            last_name=account.last_name,
            password_hash=None,
        )
        .on_conflict_ignore()
        .returning(User.id)
        .tuples()
        .execute()
    )
    if not inserted:  # the email is a login already
        return {"customer.email": [claims.EMAIL_TAKEN]}
    CustomerAccount.update(user=inserted[0][0]).where(
        (CustomerAccount.id == account.id) & (CustomerAccount.user.is_null())
    ).execute()
    return {}


def issue_set_password_token(user_id: int, ttl_hours: int) -> str:
    """A new one-time token for the user; earlier unused ones stop working. Only its hash is kept."""
    token = security.new_token()
    now = utcnow()
    # In the caller's transaction (the credentials stage's) as it is, without a savepoint: no
    # caller goes on after a failure here, its transaction rolls back whole. Alone, its own.
    with contextlib.nullcontext() if database.in_transaction() else database.atomic():
        SetPasswordToken.update(used_at=now).where(
            (SetPasswordToken.user == user_id) & (SetPasswordToken.used_at.is_null())
        ).execute()
        SetPasswordToken.create(
            user=user_id,
            token_hash=security.token_digest(token),
            expires_at=now + dt.timedelta(hours=ttl_hours),
        )
    return token


class InvalidLink(Exception):
    """The set-password link is unknown, used already, or expired."""


def usable_token(token: str) -> SetPasswordToken:
    """The live set-password token whose hash matches `token`. Reads only: the caller burns it.
    Raises InvalidLink (its message is for the customer) when the token is unknown, used or
    expired."""
    record = SetPasswordToken.get_or_none(SetPasswordToken.token_hash == security.token_digest(token))
    if record is None or record.used_at is not None:
        raise InvalidLink("This link has already been used or is not valid. Ask your KAM to resend your credentials.")
    if record.expires_at < utcnow():
        raise InvalidLink("This link has expired. Ask your KAM to resend your credentials.")
    return record


def set_password(token: str, password: str) -> User:
    """Use the link once: set the password, burn the token and end the user's sessions, in one
    transaction; returns the user. Raises InvalidLink (a message for the customer), changing
    nothing, when the link is unknown, expired or used (also by a concurrent request)."""
    with database.atomic():
        record = usable_token(token)
        burned = (
            SetPasswordToken.update(used_at=utcnow())
            .where((SetPasswordToken.id == record.id) & (SetPasswordToken.used_at.is_null()))
            .execute()
        )
        if not burned:
            raise InvalidLink("This link has already been used.")
        User.update(password_hash=security.hash_password(password)).where(User.id == record.user_id).execute()
        sessions.end_sessions(record.user_id)  # a session opened with the old password ends
        return User.get_by_id(record.user_id)
