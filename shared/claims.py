"""Who holds a customer's email and customer reference.

A live account holds its email (unique across every organisation: it becomes a login) and its
customer reference (unique in its organisation) through two claim columns with unique indexes.
The claims are written with the account itself, when the request is accepted, so of two requests
for the same customer the earlier one wins and the later one learns it at once (a 409 on the API,
the message by the field in the wizard). A rejected account gives its claims back, so a corrected
request can be made; the validate stage still checks everything authoritatively.

A reference is claimed in one spelling (`reference_claim`): "FR-000123", "fr-000123" and
"ＦＲ－０００１２３" (full-width) are one customer's reference, as a person reading them would take
them; the account keeps the reference as it was typed.
"""

from __future__ import annotations

import hashlib
import unicodedata

import peewee

from shared import visibility
from shared.db import Prepared, param
from shared.models import CustomerAccount, User

EMAIL_TAKEN = "This email is already used as a login; it must be unique."
REFERENCE_TAKEN = "This customer reference is already used in your organisation."


#: The longest claim the column keeps (`CustomerAccount.reference_claim`).
MAX_CLAIM_LENGTH = 64


def reference_claim(reference: str | None) -> str | None:
    """The spelling under which an account holds `reference` in its organisation: compatibility
    forms made plain (NFKC: full-width letters and digits, ligatures) and case folded, as PRECIS
    compares identifiers (RFC 8264/8265). References identify a customer to a person at a glance
    (the article's tip), so two that a person cannot tell apart are one. NFKC and case folding
    can lengthen a text (one "ﷺ" is 18 letters): a claim longer than the column is kept as its
    digest, which only that spelling gives. Migration 0010 holds a copy of this rule."""
    if not reference:
        return None
    claim = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", reference).casefold())
    if len(claim) > MAX_CLAIM_LENGTH:
        claim = "#" + hashlib.sha256(claim.encode()).hexdigest()[: MAX_CLAIM_LENGTH - 1]
    return claim


#: What a person is told about a field held by an account they may not see.
NEUTRAL = {"email": EMAIL_TAKEN, "customer_reference": REFERENCE_TAKEN}


class IdentityTaken(Exception):
    """The email or the customer reference of a new account is held by another account or login.

    `errors` is keyed like the request ({"customer": {"email": [...]}}) and names a holding account
    of the caller's organisation (another organisation's is not told): for the API, whose token
    sees the whole organisation. `account_id` is that account; `holders` the holding account of
    each field so named, for `errors_for` a person who may see only some accounts."""

    def __init__(
        self,
        errors: dict[str, list[str]],
        account_id: int | None = None,
        holders: dict[str, CustomerAccount] | None = None,
    ):
        self.errors = {"customer": errors}
        self.account_id = account_id
        self.holders = holders or {}
        super().__init__(" ".join(message for messages in errors.values() for message in messages))

    def errors_for(self, user: User) -> dict[str, dict[str, list[str]]]:
        """`errors` as `user` may read them: a holding account is named only when `user` sees it
        (visibility.sees: a KAM another KAM's customer is not); otherwise the field's neutral message."""
        customer = {
            field: [NEUTRAL[field]]
            if field in self.holders and not visibility.sees(user, self.holders[field])
            else messages
            for field, messages in self.errors["customer"].items()
        }
        return {"customer": customer}


def _holder_message(field: str, company: str, account_id: int, status: str) -> str:
    return f"Customer account {account_id} ({company}, {status}) already has this {field}."


def _holder(row: tuple) -> CustomerAccount:
    """The holding account of a `_holders_query` row, as much as `visibility.sees` asks of it."""
    return CustomerAccount(id=row[0], organisation=row[1], kam=row[6], company=row[2], status=row[3])


def _holds_email(
    account: type[CustomerAccount] | peewee.ModelAlias[CustomerAccount], email: object
) -> peewee.Expression:
    """An account holds its email in every organisation (it becomes a login)."""
    return account.email_claim == email


def _holds_reference(
    account: type[CustomerAccount] | peewee.ModelAlias[CustomerAccount], organisation_id: object, reference: object
) -> peewee.Expression:
    """An account holds its customer reference in its own organisation."""
    return (account.organisation == organisation_id) & (account.reference_claim == reference)


def _holders_query() -> peewee.SelectBase:
    """The accounts holding the email (any organisation), those holding the reference (this
    one), then the logins with the email: each part read through its own unique index (see
    `free`); an account holding both comes twice."""
    account = CustomerAccount
    no = peewee.SQL("NULL")
    columns = (
        account.id,
        account.organisation,
        account.company,
        account.status,
        account.email_claim,
        account.reference_claim,
        account.kam,
    )
    by_email = account.select(*columns).where(_holds_email(account, param("email", account.email_claim)))
    by_reference = account.select(*columns).where(
        _holds_reference(
            account, param("organisation_id", account.organisation), param("reference", account.reference_claim)
        )
    )
    logins = User.select(no, no, no, no, User.email, no, no).where(User.email == param("email", User.email))
    return by_email.union_all(by_reference).union_all(logins).tuples()


def free(email: peewee.Node, organisation_id: peewee.Node, reference: peewee.Node) -> peewee.Expression:
    """The SQL condition "no account or login holds the email or the reference" (find_holders
    finds nothing), for a statement that needs only the answer (shared.accounts.check_request);
    the arguments are its values (`shared.db.param`s). A missing value is NULL, which nothing holds.

    One EXISTS per claim, each answered by that claim's unique index alone. Asked as one OR (an
    account holds the email or the reference), PostgreSQL planned it, while the table's statistics
    were behind its growth (a burst of new accounts before autovacuum analyses it), as a read of
    the organisation's accounts one by one through another index starting with organisation_id:
    every POST read every account of the organisation."""
    account, login = CustomerAccount.alias("holder"), User.alias("login")
    one = peewee.SQL("1")
    email_held = account.select(one).where(_holds_email(account, email))
    reference_held = account.select(one).where(_holds_reference(account, organisation_id, reference))
    logins = login.select(one).where(login.email == email)
    return ~peewee.fn.EXISTS(email_held) & ~peewee.fn.EXISTS(reference_held) & ~peewee.fn.EXISTS(logins)


_HOLDERS = Prepared(_holders_query)


def find_holders(organisation_id: int, customer: dict) -> IdentityTaken | None:
    """The taken email or reference of `customer` (a loaded CustomerSchema), or None when both are free.

    One statement: the accounts holding the email (any organisation) or the reference (this
    one), and the logins with the email, side by side (UNION ALL); each request pays it."""
    email, reference = customer.get("email"), reference_claim(customer.get("customer_reference"))
    if not email and not reference:
        return None
    # A missing one is NULL, which equals nothing: one statement for every request.
    rows = _HOLDERS.rows(email=email, organisation_id=organisation_id, reference=reference)
    errors: dict[str, list[str]] = {}
    named: dict[str, CustomerAccount] = {}
    account_id = None
    holders = [row for row in rows if row[0] is not None]  # accounts, then (id NULL) logins
    if email:
        holder = next((row for row in holders if row[4] == email), None)
        if holder is not None and holder[1] == organisation_id:
            errors["email"] = [_holder_message("email", holder[2], holder[0], holder[3])]
            named["email"] = _holder(holder)
            account_id = holder[0]
        elif holder is not None or len(rows) > len(holders):
            # Logins are unique across organisations: the message must not say whose it is.
            errors["email"] = [EMAIL_TAKEN]
    if reference:
        holder = next((row for row in holders if row[1] == organisation_id and row[5] == reference), None)
        if holder is not None:
            errors["customer_reference"] = [_holder_message("customer reference", holder[2], holder[0], holder[3])]
            named["customer_reference"] = _holder(holder)
            account_id = account_id or holder[0]
    return IdentityTaken(errors, account_id, named) if errors else None
