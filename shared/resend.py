"""Resending a customer's credentials: a KAM asks, or access is given back; a worker sends.

The credentials email goes at most once per (account, purpose) (see shared.credentials). A
resend is recorded as an AuditEvent with action "credentials.resend"; the purpose of the email
that the send_credentials stage should send is derived from how many there are, so each resend
is a new purpose (sent once) and a stage that merely runs again (after new markets were
activated) finds its purpose sent already and sends nothing. A login given back after it was
switched off (access No -> Yes to a login that had it, a demo converted after its trial ended)
is a resend by the system: its links were burned when it was switched off.
"""

from __future__ import annotations

import peewee

from shared import account_status, sessions, workflow
from shared.credentials import CREDENTIALS
from shared.db import Prepared, database, param
from shared.models import AuditEvent, CustomerAccount, OutboxEmail

RESEND_ACTION = "credentials.resend"
STAGE = "send_credentials"


class CannotResend(Exception):
    """The credentials cannot be resent now; str() says why, for the person who asked."""

    pass


def _resends() -> peewee.ModelSelect[AuditEvent]:
    """How many resends of the account's credentials were asked for (audit events), as SQL."""
    return AuditEvent.select(peewee.fn.COUNT(AuditEvent.id)).where(
        (AuditEvent.account == param("account", AuditEvent.account)) & (AuditEvent.action == RESEND_ACTION)
    )


#: Its SQL generated once: the account page shows it.
_RESENDS = Prepared(lambda: _resends().tuples())


def resend_count(account_id: int) -> int:
    """How many resends of the account's credentials were asked for (audit events), 0 if none."""
    return _RESENDS.rows(account=account_id)[0][0]


def credentials_purpose() -> peewee.Node:
    """The purpose the send_credentials stage sends under now, as SQL of the account (a parameter
    `account`), computed by the statement that claims the email (shared.credentials.claim): one
    round trip fewer than counting first. "credentials" for the first email,
    "credentials-resend-N" after the N-th resend was asked for."""
    numbered = peewee.Value(f"{CREDENTIALS}-resend-").concat(peewee.fn.NULLIF(_resends(), 0).cast("TEXT"))
    return peewee.fn.COALESCE(numbered, CREDENTIALS)  # no resend: NULLIF gives NULL, and so does the ||


def request_resend(account: CustomerAccount, actor: str) -> int:
    """Record the request and put the account back at send_credentials; call `start` after
    commit. Returns the resend's number. Raises CannotResend when there is nothing to resend."""
    with database.atomic():
        account = CustomerAccount.get_by_id(account.id)
        refusal = workflow.rejected_refusal(account.status)
        if refusal:
            raise CannotResend(refusal)
        if not account.app_access or not account.user_id:
            raise CannotResend("This customer has no access to the application: there are no credentials to send.")
        if account.trial_ended_at is not None:  # the trial switched the login off (shared.trials)
            raise CannotResend(
                "The demo trial ended: the customer's login is switched off, there are no credentials to send. "
                "Converting the account (demo account: No) gives the login back and sends new credentials."
            )
        if account.status != workflow.ACTIVE:
            raise CannotResend("Credentials can be resent once the account is active.")
        if not account_status.send_back(account.id, workflow.ACTIVE, [STAGE]):
            raise CannotResend("The account changed meanwhile; reload the page and try again.")
        # New credentials replace the old ones: whoever is logged in with them is logged out.
        sessions.end_sessions(account.user_id)
        return _record_resend(account, actor, {})


#: Why a login switched off is given back (the resend's `reason`, on the account's history).
ACCESS_GIVEN_BACK = "access given back"
DEMO_CONVERTED = "demo converted after its trial ended"


def login_given_back(account: CustomerAccount, reason: str) -> None:
    """The account's login, switched off (access No, or the end of its demo trial: its unused
    links were burned then), works again (access No -> Yes, or the demo converted; `reason`
    says which): new credentials are due, recorded as a resend by the system in the caller's
    transaction, so that the send_credentials stage the change runs sends a new email with a
    new link, once. The caller makes that stage due (`account_status.send_back`)."""
    _record_resend(account, "system", {"reason": reason})


def _record_resend(account: CustomerAccount, actor: str, detail: dict) -> int:
    number = resend_count(account.id) + 1
    AuditEvent.create(
        organisation=account.organisation_id,
        account=account.id,
        actor=actor,
        action=RESEND_ACTION,
        detail={"round": number, **detail},
    )
    return number


def start(account_id: int) -> None:
    """Send the send_credentials stage for the account, after `request_resend` committed. With
    Redis down nothing is raised: the account waits for the reconciler."""
    account_status.send_stage(STAGE, account_id)


def sent_emails(account_id: int) -> list[OutboxEmail]:
    """The credentials emails that went out, oldest first."""
    return list(
        OutboxEmail.select()
        .where(
            (OutboxEmail.account == account_id)
            & (OutboxEmail.state == "sent")
            & OutboxEmail.purpose.startswith(CREDENTIALS)
        )
        .order_by(OutboxEmail.sent_at)
    )
