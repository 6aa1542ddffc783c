"""The customer's own login: provisioning it, and setting its password through a one-time link."""

from __future__ import annotations

import contextlib
import datetime as dt

import peewee

from shared import claims, db, security, sessions
from shared.db import database
from shared.models import CustomerAccount, SetPasswordToken, User, utcnow

Problems = dict[str, list[str]]


def provision_login(account: CustomerAccount) -> Problems:
    """Create the customer's user (role customer, login = the account's email), once, and link
    the account to it; in the caller's transaction. Returns problems if the email turned out to
    be someone else's login."""
    if account.user_id:
        return {}
    user = User(
        organisation=account.organisation_id,
        email=account.email,
        role="customer",
        first_name=account.first_name,
        last_name=account.last_name,
        password_hash=None,
    )
    values = {**user.__data__, "account": account.id}  # every column, peewee's defaults filled in
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        inserted = bool(_PROVISION(**values))
    else:
        inserted = bool(_INSERT_USER(**values))
        if inserted:
            _LINK_USER(**values)
    return {} if inserted else {"customer.email": [claims.EMAIL_TAKEN]}  # else the email is a login already


def _insert_user() -> peewee.ModelInsert:
    """The user's INSERT, every column a parameter (a default peewee filled in when generating the
    SQL would be kept with it), ignored if the email is a login already: ON CONFLICT DO NOTHING (OR
    IGNORE on SQLite) instead of catching the IntegrityError, no savepoint to take and release
    around it inside the stage's transaction."""
    fields = [field for field in User._meta.sorted_fields if field is not User.id]
    return User.insert({field: db.param(field.name, field) for field in fields}).on_conflict_ignore()


def _link_user(user: peewee.Node) -> peewee.ModelUpdate:
    return CustomerAccount.update(user=user).where(
        (CustomerAccount.id == db.param("account")) & db.row_check(CustomerAccount.user.is_null())
    )


def _provision_query() -> peewee.Select:
    """PostgreSQL: the user's INSERT and the account's link to it in one statement (a
    data-modifying CTE), one round trip to the server instead of two: WITH new AS (INSERT ...
    RETURNING id), linked AS (UPDATE customer_account ... FROM new) SELECT id FROM new, whose
    row says the user was made."""
    new = peewee.CTE("new_user", _insert_user().returning(User.id), columns=["id"])
    linked = peewee.CTE("linked", _link_user(new.c.id).from_(new).returning())
    return peewee.Select([new], [new.c.id]).with_cte(new, linked).bind(database)


# What every account with access makes once, its SQL generated once (shared.db.Prepared).
_PROVISION = db.prepared_write(_provision_query)
_INSERT_USER = db.prepared_write(lambda: _insert_user().returning())
#: SQLite: the user just inserted, found by its login (the email is unique).
_LINK_USER = db.prepared_write(lambda: _link_user(User.select(User.id).where(User.email == db.param("email"))))


def issue_set_password_token(user_id: int, ttl_hours: int) -> str:
    """A new one-time token for the user; earlier unused ones stop working. Only its hash is kept."""
    token = security.new_token()
    now = utcnow()
    values = {"user": user_id, "now": now, "hash": security.token_digest(token)}
    values["expires"] = now + dt.timedelta(hours=ttl_hours)
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        _REPLACE_TOKENS(**values)  # one statement: atomic without a transaction
        return token
    # In the caller's transaction (the credentials stage's) as it is, without a savepoint: no
    # caller goes on after a failure here, its transaction rolls back whole. Alone, its own.
    with contextlib.nullcontext() if database.in_transaction() else database.atomic():
        _BURN_TOKENS(**values)
        _ADD_TOKEN(**values)
    return token


def _burn_tokens_query() -> peewee.ModelUpdate:
    return SetPasswordToken.update(used_at=db.param("now", SetPasswordToken.used_at)).where(
        (SetPasswordToken.user == db.param("user")) & (SetPasswordToken.used_at.is_null())
    )


def _add_token_query() -> peewee.ModelInsert:
    return SetPasswordToken.insert(
        user=db.param("user"),
        token_hash=db.param("hash"),
        expires_at=db.param("expires", SetPasswordToken.expires_at),
        created_at=db.param("now", SetPasswordToken.created_at),
    ).returning()


def _replace_tokens_query() -> peewee.ModelInsert:
    """PostgreSQL: the earlier tokens burned and the new one added in one statement, one round
    trip instead of two (the INSERT does not see the WITH's UPDATE: the new token stays live)."""
    return _add_token_query().with_cte(peewee.CTE("burned", _burn_tokens_query().returning()))


_BURN_TOKENS = db.prepared_write(_burn_tokens_query)
_ADD_TOKEN = db.prepared_write(_add_token_query)
_REPLACE_TOKENS = db.prepared_write(_replace_tokens_query)


def switch_off_login(user_id: int) -> None:
    """Switch the customer's login off (access taken away, a demo trial over), in the caller's
    transaction: it logs in no more, every session of it ends, and its unused set-password links
    stop working, so that none sets a password on it meanwhile nor still works once it is given
    back (giving access back sends new credentials)."""
    User.update(active=False).where(User.id == user_id).execute()
    _BURN_TOKENS(user=user_id, now=utcnow())
    sessions.end_sessions(user_id)


class InvalidLink(Exception):
    """The set-password link is unknown, used already, expired, or its login is switched off."""


def usable_token(token: str) -> SetPasswordToken:
    """The live set-password token whose hash matches `token`. Reads only: the caller burns it.
    Raises InvalidLink (its message is for the customer) when the token is unknown, used or
    expired, or its login is switched off (`record.user` is read with it)."""
    record = (
        SetPasswordToken.select(SetPasswordToken, User)
        .join(User)
        .where(SetPasswordToken.token_hash == security.token_digest(token))
        .get_or_none()
    )
    if record is not None and not record.user.active:
        raise InvalidLink("This link no longer works: your access to the application is switched off. Ask your KAM.")
    if record is None or record.used_at is not None:
        raise InvalidLink("This link has already been used or is not valid. Ask your KAM to resend your credentials.")
    if record.expires_at < utcnow():
        raise InvalidLink("This link has expired. Ask your KAM to resend your credentials.")
    return record


def set_password(token: str, password: str) -> User:
    """Use the link once: set the password, burn the token and end the user's sessions, in one
    transaction; returns the user. Raises InvalidLink (a message for the customer), changing
    nothing, when the link is unknown, expired or used (also by a concurrent request, or burned
    by switching the login off meanwhile), or its login is switched off."""
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
