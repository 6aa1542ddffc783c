"""Who holds a customer's email and customer reference.

A live account holds its email (unique across every organisation: it becomes a login) and its
customer reference (unique in its organisation) through two claim columns with unique indexes.
The claims are written with the account itself, when the request is accepted, so of two requests
for the same customer the earlier one wins and the later one learns it at once (a 409 on the API,
the message by the field in the wizard). A rejected account gives its claims back, so a corrected
request can be made; the validate stage still checks everything authoritatively.
"""

from __future__ import annotations

from shared.models import CustomerAccount, User

EMAIL_TAKEN = "This email is already used as a login; it must be unique."
REFERENCE_TAKEN = "This customer reference is already used in your organisation."


class IdentityTaken(Exception):
    """The email or the customer reference of a new account is held by another account or login.

    `errors` is keyed like the request ({"customer": {"email": [...]}}); `account_id` names the
    holding account when it is in the caller's organisation (another organisation's is not told)."""

    def __init__(self, errors: dict[str, list[str]], account_id: int | None = None):
        self.errors = {"customer": errors}
        self.account_id = account_id
        super().__init__(" ".join(message for messages in errors.values() for message in messages))


def _holder_message(field: str, holder: CustomerAccount) -> str:
    return f"Customer account {holder.id} ({holder.company}, {holder.status}) already has this {field}."


def find_holders(organisation_id: int, customer: dict) -> IdentityTaken | None:
    """The taken email or reference of `customer` (a loaded CustomerSchema), or None when both are free."""
    errors: dict[str, list[str]] = {}
    account_id = None
    email, reference = customer.get("email"), customer.get("customer_reference")
    if email:
        holder = CustomerAccount.get_or_none(CustomerAccount.email_claim == email)
        if holder is not None and holder.organisation_id == organisation_id:
            errors["email"] = [_holder_message("email", holder)]
            account_id = holder.id
        elif holder is not None or User.select().where(User.email == email).exists():
            # Logins are unique across organisations: the message must not say whose it is.
            errors["email"] = [EMAIL_TAKEN]
    if reference:
        holder = CustomerAccount.get_or_none(
            (CustomerAccount.organisation == organisation_id) & (CustomerAccount.reference_claim == reference)
        )
        if holder is not None:
            errors["customer_reference"] = [_holder_message("customer reference", holder)]
            account_id = account_id or holder.id
    return IdentityTaken(errors, account_id) if errors else None
