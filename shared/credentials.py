"""Sending a customer's credentials at most once per request.

The unique (account, purpose) outbox row is the guard: a stage run first *claims* the row with
a conditional UPDATE, and only the claimant sends. A claim whose sender died is taken over after
a lease, so a crash mid-send delays the email instead of losing it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import smtplib
from collections.abc import Callable
from email.message import EmailMessage

import peewee

from shared import access, account_status, db, mail, workflow
from shared.config import Settings
from shared.models import CustomerAccount, OutboxEmail, utcnow

CREDENTIALS = "credentials"


#: Margin between a sender's time limit and the moment its claim may be taken over.
LEASE_MARGIN_S = 5


def _smtp_timeout(settings: Settings) -> float:
    """A live sender never outlasts its stage's time limit, so its claim never outlasts the lease."""
    return min(mail.SMTP_TIMEOUT_S, settings.stage_time_limit_ms / 1000)


def _lease_seconds(settings: Settings) -> float:
    return settings.stage_time_limit_ms / 1000 + LEASE_MARGIN_S


class EmailInFlight(Exception):
    """Another run holds the email's claim: it may yet send it, or fail and release it, or have
    died with it, in which case the claim can be taken over once its lease has run out."""


#: A purpose computed by the database for the account, in the statement that claims the email:
#: SQL built of the account's id (the parameter `account`), e.g. shared.resend.credentials_purpose.
PurposeOf = Callable[[], peewee.Node]


def claim(
    account: CustomerAccount, purpose: str | PurposeOf, settings: Settings, recipient: str | None = None
) -> OutboxEmail | None:
    """Take the outbox row for sending; None if it is sent already. Raises EmailInFlight if
    another live run holds it. (Fixing-advice notices use the same outbox, one row per advice.)"""
    now = utcnow()
    stale = now - dt.timedelta(seconds=_lease_seconds(settings))
    claim_row, find_row = _claim_statements(_given_purpose if isinstance(purpose, str) else purpose)
    values = {"account": account.id, "purpose": purpose if isinstance(purpose, str) else None}
    claimed = claim_row.rows(**values, recipient=recipient or account.email, now=now, stale=stale)
    if claimed:
        return claimed[0]
    outbox = find_row.first(**values)
    if outbox is None:
        raise peewee.DoesNotExist(f"no {purpose} email of account {account.id}")
    if outbox.state == "sent":
        return None
    raise EmailInFlight(f"the {outbox.purpose} email of account {account.id} is being sent by another run")


def _given_purpose() -> peewee.Node:
    return db.param("purpose")


@functools.cache
def _claim_statements(purpose: PurposeOf) -> tuple[db.Prepared, db.Prepared]:
    """The claim (see `_claim_query`) and the read of the row it left as it was, for a kind of
    purpose, their SQL generated once (shared.db.Prepared)."""
    # An INSERT ... RETURNING gives rows as a SELECT does.
    claim_row = db.Prepared(lambda: _claim_query(purpose()))  # type: ignore[arg-type, return-value]
    find_row = db.Prepared(
        lambda: (
            OutboxEmail.select()
            .where((OutboxEmail.account == db.param("account")) & (OutboxEmail.purpose == purpose()))
            .limit(1)
        )
    )
    return claim_row, find_row


def _claim_query(purpose: peewee.Node) -> peewee.ModelInsert:
    """One statement: a new row is made claimed; the row an earlier attempt or a racing run made
    is claimed if it is pending or its sender's lease has run out, else left as it is. Returns
    the claimed row, without reading it again."""
    now = db.param("now", OutboxEmail.claimed_at)
    return (
        OutboxEmail.insert(
            account=db.param("account"),
            purpose=purpose,
            recipient=db.param("recipient"),
            state="sending",
            claimed_at=now,
            attempts=1,
        )
        .on_conflict(
            conflict_target=[OutboxEmail.account, OutboxEmail.purpose],
            update={
                OutboxEmail.state: "sending",
                OutboxEmail.claimed_at: now,
                OutboxEmail.attempts: OutboxEmail.attempts + 1,
            },
            where=(OutboxEmail.state == "pending")
            | ((OutboxEmail.state == "sending") & (OutboxEmail.claimed_at < db.param("stale", OutboxEmail.claimed_at))),
        )
        .returning(OutboxEmail)
    )


def _mark_sent_query(moved: peewee.CTE | None = None) -> peewee.ModelUpdate:
    """The outbox row marked sent; in a move's statement (PostgreSQL), if the account moved."""
    sent = OutboxEmail.id == db.param("outbox")
    if moved is not None:
        sent &= peewee.fn.EXISTS(peewee.Select([moved], [moved.c.id]))
    return OutboxEmail.update(state="sent", sent_at=db.param("sent_at", OutboxEmail.sent_at), last_error=None).where(
        sent
    )


_MARK_SENT = db.prepared_write(_mark_sent_query)
#: The email recorded as sent with the move that settles its stage: one statement on PostgreSQL.
_SENT_WITH_MOVE = account_status.Also(
    lambda moved: [peewee.CTE("sent", _mark_sent_query(moved).returning())], _MARK_SENT
)


@dataclasses.dataclass
class CredentialsEmail:
    """The credentials email of one claimed outbox row: the stage's effect (see
    workers.stage_actor), sent once the transaction that claimed the row has committed.
    `compose` writes the message when it is sent, not in the transaction: on SQLite that
    holds the writer lock, which every other stage waits for."""

    outbox: OutboxEmail
    compose: Callable[[], EmailMessage]
    settings: Settings

    def perform(self) -> None:
        try:
            mail.send(self.settings.smtp_url, self.compose(), timeout=_smtp_timeout(self.settings))
        except smtplib.SMTPException as error:
            refused = mail.refusal(error)
            if refused is None:
                raise  # a connection lost: retried
            for_good, reply = refused
            if for_good:
                raise workflow.GiveUp(f"the mail server refused the email for good: {reply}") from error
            raise mail.RefusedForNow(f"the mail server refused the email for now: {reply}") from error  # retried

    def undo(self, error: BaseException) -> None:
        release(self.outbox, error)

    def record(self) -> None:
        _record_sent(self.outbox)

    def recording(self) -> tuple[account_status.Also, dict[str, object]]:
        return _SENT_WITH_MOVE, {"outbox": self.outbox.id, "sent_at": utcnow()}

    def record_within_s(self) -> float:
        return _lease_left_s(self.outbox, self.settings)


def prepare_credentials(
    account: CustomerAccount, settings: Settings, purpose: str | PurposeOf = CREDENTIALS
) -> CredentialsEmail | None:
    """Claim the email and issue a fresh set-password link for it, in the caller's transaction;
    None if it was sent already. Raises EmailInFlight if another live run holds it. Send it
    once the transaction has committed; on an SMTP error release the claim, for a later run."""
    if account.user_id is None:  # the provision_access stage gives every account with access its login first
        raise ValueError(f"account {account.id} has no login to send credentials for")
    outbox = claim(account, purpose, settings)
    if outbox is None:
        return None
    token = access.issue_set_password_token(account.user_id, settings.set_password_ttl_hours)
    compose = functools.partial(
        mail.credentials_message,
        mail_from=settings.mail_from,
        to=account.email,
        first_name=account.first_name,
        company=account.company,
        login=account.email,
        link=f"{settings.public_base_url}/set-password/{token}",
        ttl_hours=settings.set_password_ttl_hours,
    )
    return CredentialsEmail(outbox, compose, settings)


def release(outbox: OutboxEmail, error: BaseException) -> None:
    """Give the claim back after a failed send, so a later run sends it."""
    OutboxEmail.update(state="pending", last_error=f"{type(error).__name__}: {error}"[:2000]).where(
        OutboxEmail.id == outbox.id
    ).execute()


def mark_sent(outbox: OutboxEmail, settings: Settings) -> None:
    """The server has the email: record that through a database outage too, for as long as the
    claim is ours (after its lease another run would take it over and send the email again).
    Raises ValueError for a row that was never claimed."""
    db.record_done(lambda: _record_sent(outbox), within_s=_lease_left_s(outbox, settings))


def _record_sent(outbox: OutboxEmail) -> None:
    _MARK_SENT(outbox=outbox.id, sent_at=utcnow())


def _lease_left_s(outbox: OutboxEmail, settings: Settings) -> float:
    """How long the claim on `outbox` is still ours (a second spared)."""
    if outbox.claimed_at is None:
        raise ValueError(f"outbox email {outbox.id} was not claimed: only the run that claimed it marks it sent")
    lease_left = outbox.claimed_at + dt.timedelta(seconds=_lease_seconds(settings)) - utcnow()
    return lease_left.total_seconds() - 1
