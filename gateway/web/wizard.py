"""The two-step "add a customer account" wizard of the help article.

Step 1 "Defining the customer" and step 2 "Setting up of the account". What was typed stays in
the signed session cookie between steps (Back keeps it); nothing is written to the database
until "Create account", which goes through the same shared schema and write path as the API.
"""

from __future__ import annotations

import datetime as dt
import secrets

import peewee
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from gateway.page_query import query_value
from gateway.web import account_form
from gateway.web.auth import current_staff, staff_required
from gateway.web.display import field_label, market_name
from shared import accounts, claims, idempotency, parameters, rules, visibility, workflow
from shared.markets import in_catalogue_order
from shared.models import CustomerAccount
from shared.schemas import AccountRequestSchema, CustomerSchema

wizard = Blueprint("wizard", __name__, url_prefix="/customers/new")

SESSION_KEY = "new_account"


def offered(organisation_id: int) -> list[str]:
    """The organisation's markets, in catalogue order."""
    return in_catalogue_order(rules.offered_markets(organisation_id))


def _draft() -> dict:
    return session.get(SESSION_KEY) or {}


def _save(**parts) -> None:
    """Keep `parts` in the draft. A draft has its own key until the account is created: 'Create
    account' sent twice (a double click, a retry) creates it once and shows it both times."""
    draft = _draft()
    session[SESSION_KEY] = {**draft, "key": draft.get("key") or secrets.token_urlsafe(16), **parts}


def customer_version(customer: dict) -> str:
    """Which step 1 a step 2 page was shown for. The draft lives in the session, which every tab
    shares: step 1 answered again in another tab (another customer) must not turn the 'Create
    account' of a page that names the first customer into an account for the second."""
    return idempotency.form_version(customer)


def step_1_changed(customer: dict) -> str:
    return (
        f"Step 1 was answered again after this page was shown (in another tab, or through Back): this "
        f"account is now for {customer.get('company')} ({customer.get('email')}), as named above. Nothing "
        f"was created: check the set-up below, then click 'Create account' again."
    )


@wizard.route("", methods=["GET", "POST"])
@staff_required
def define_customer():
    """Step 1. `?fresh=1` (the 'Add' buttons) starts over; Back from step 2 keeps the draft."""
    staff = current_staff()
    if request.method == "GET":
        if query_value("fresh"):
            session.pop(SESSION_KEY, None)
        return render_template("wizard_customer.html", state=_draft().get("customer") or {}, errors={})
    state = account_form.customer_state(request.form)
    _save(customer=state)
    try:
        customer = CustomerSchema().load(account_form.customer_request(state))
        # An early warning by the field; creating the account decides (accounts.create_account).
        taken = claims.find_holders(staff.organisation_id, customer)
        errors = taken.errors_for(staff) if taken else {}
    except ValidationError as error:
        errors = {"customer": error.messages}
    if errors:
        return render_template("wizard_customer.html", state=state, errors=account_form.field_errors(errors, [])), 422
    # From here on the email and phone read as they are stored (lower-case, one phone form).
    _save(customer=account_form.stored_customer_state(state, customer))
    return redirect(url_for("wizard.set_up"))


@wizard.get("/from/<int:account_id>")
@staff_required
def from_rejected(account_id: int):
    """'Add a new customer account with corrected details': the wizard, filled in with a
    rejected request's answers (nothing is stored until 'Create account', as always)."""
    staff = current_staff()
    account = visibility.visible_account(staff, account_id)
    if account is None:
        abort(404, description="There is no such customer account among yours.")
    if account.status != workflow.REJECTED:
        flash("Only a rejected account is copied into a new request; this one can be edited.", "info")
        return redirect(url_for("customers.account_page", account_id=account.id))
    market_ids = offered(staff.organisation_id)
    setup = account_form.account_setup_state(account, market_ids, dt.date.today())
    left_out = [market_name(m) for m in setup["markets"] if m not in market_ids]
    setup["markets"] = {m: values for m, values in setup["markets"].items() if m in market_ids}
    session.pop(SESSION_KEY, None)  # a new draft, with its own key
    _save(customer=account_form.account_customer_state(account), setup=setup)
    flash(
        f"The answers of the rejected request for {account.company} are filled in: correct what the reasons "
        f"named, then create the account.",
        "info",
    )
    # The reasons, here too: step 1 is where the KAM starts correcting, and the account page
    # that listed them is left behind.
    reasons = " ".join(
        f"{field_label(field)}: {message}"
        for field, messages in (account.rejection_reasons or {}).items()
        for message in messages
    )
    if reasons:
        flash(f"Why it was rejected — {reasons}", "info")
    if left_out:
        flash(f"Not offered by your organisation, so left out: {', '.join(left_out)}.", "info")
    return redirect(url_for("wizard.define_customer"))


@wizard.route("/setup", methods=["GET", "POST"])
@staff_required
def set_up():
    """Step 2: 'Create account' submits everything; 'Back' keeps step 2's answers too."""
    staff = current_staff()
    draft = _draft()
    if not draft.get("customer"):
        flash("Start by defining the customer.", "info")
        return redirect(url_for("wizard.define_customer"))
    market_ids = offered(staff.organisation_id)
    today = dt.date.today()
    if request.method == "GET":
        state = draft.get("setup") or account_form.blank_setup_state(market_ids, today)
        return _render(staff, draft["customer"], state, {}, market_ids)
    state = account_form.setup_state(request.form, market_ids)
    _save(setup=state)
    if request.form.get("action") == "back":
        return redirect(url_for("wizard.define_customer"))
    if request.form.get("seen", "") != customer_version(draft["customer"]):
        errors = {"_schema": [step_1_changed(draft["customer"])]}
        return _render(staff, draft["customer"], state, errors, market_ids, 409)
    setup, order = account_form.setup_request(state)
    body = {"kam_email": staff.email, "customer": account_form.customer_request(draft["customer"]), "setup": setup}
    try:
        loaded = AccountRequestSchema().load(body)
    except ValidationError as error:
        return _render(
            staff, draft["customer"], state, account_form.field_errors(error.messages, order), market_ids, 422
        )
    problems = {"setup": parameters.setup_problems(staff.organisation_id, loaded["setup"])}
    if any(problems.values()):
        return _render(staff, draft["customer"], state, account_form.field_errors(problems, order), market_ids, 422)
    kam = accounts.find_kam(staff.organisation, staff.email)
    key = f"wizard:{draft.get('key', '')}"

    def remember(account):
        """With the account, the record that this draft created it (the API's idempotency keys)."""
        if not draft.get("key"):
            return None
        return idempotency.remember(
            staff.organisation_id, key, idempotency.fingerprint(body), 302, {"account_id": account.id}, account.id
        )

    try:
        account = accounts.create_account(staff.organisation, kam, loaded, actor=staff.email, remember=remember)
    except (claims.IdentityTaken, peewee.IntegrityError) as refused:
        # The same draft sent twice (a double click, a retry with the cookie of before): the
        # first holds the claims; this one shows the account it created, as the first did.
        created = idempotency.lookup(staff.organisation_id, key) if draft.get("key") else None
        if created is not None and created.account_id is not None:
            return _created(CustomerAccount.get_by_id(created.account_id))
        if not isinstance(refused, claims.IdentityTaken):
            raise
        # Another request for this customer came first: step 1 again, the message by its field
        # (step 2's answers stay in the draft for when the KAM comes back).
        return render_template(
            "wizard_customer.html",
            state=draft["customer"],
            errors=account_form.field_errors(refused.errors_for(staff), []),
        ), 409
    return _created(account)


def _created(account: CustomerAccount):
    session.pop(SESSION_KEY, None)
    flash(f"The customer account of {account.company} is created.", "success")
    return redirect(url_for("customers.account_page", account_id=account.id))


def _render(staff, customer_state, state, errors, market_ids, status=200):
    step1_fields = set(account_form.CUSTOMER_FIELDS) | {"is_demo"}
    step1_errors = {k: v for k, v in errors.items() if k in step1_fields}
    return render_template(
        "wizard_setup.html",
        customer=customer_state,
        seen=customer_version(customer_state),
        state=state,
        errors=errors,
        step1_errors=step1_errors,
        market_ids=market_ids,
        **account_form.market_cards(staff.organisation_id),
        mail_from=current_app.config["KAMFLOW"].mail_from,
    ), status
