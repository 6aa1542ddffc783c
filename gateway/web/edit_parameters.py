"""'Edit parameters' on the account page: everything but the email, at any time; the change is
loaded with the shared change schema and applied by shared.parameters, which decides what to
re-run."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from marshmallow.error_store import merge_errors

from gateway.web import account_form
from gateway.web.auth import current_staff, staff_required
from gateway.web.customers import visible_or_404
from gateway.web.display import stage_label
from gateway.web.wizard import offered
from shared import parameters, workflow
from shared.change_schemas import AccountChangeSchema

edit_parameters = Blueprint("edit_parameters", __name__, url_prefix="/customers")


@edit_parameters.route("/<int:account_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(account_id: int):
    staff = current_staff()
    account = visible_or_404(account_id)
    refusal = workflow.rejected_refusal(account.status)
    if refusal:
        flash(refusal, "error")
        return redirect(url_for("customers.account_page", account_id=account.id))
    market_ids = offered(staff.organisation_id)
    # A market the organisation stopped offering still shows, so it can be kept or removed.
    market_ids += [row.market for row in account.markets if row.market not in market_ids]
    if request.method == "GET":
        customer = account_form.account_customer_state(account)
        state = account_form.account_setup_state(account, market_ids, dt.date.today())
        return _render(staff, account, customer, state, {}, market_ids, parameters.version(account))
    # The version of the parameters the form was made from: kept through error pages, so an old
    # tab is still recognised once its other mistakes are corrected.
    seen = request.form.get("seen", "")
    customer = {**account_form.customer_state(request.form), "email": account.email}
    state = account_form.setup_state(request.form, market_ids)
    setup, order = account_form.setup_request(state)
    body = {"customer": account_form.customer_request(customer, with_email=False), "setup": setup}
    try:
        change = AccountChangeSchema().load(body)
        problems = {"setup": parameters.setup_problems(staff.organisation_id, change["setup"])}
        if any(problems.values()):
            raise parameters.ChangeRefused(problems)
        applied = parameters.apply_change(account, change, actor=staff.email, seen=seen)
    except ValidationError as error:
        # The end dates' rule needs the stored account: checked on what did load, shown with the rest.
        messages = merge_errors(error.messages, parameters.end_date_problems(account, error.valid_data or {}))
        return _render(
            staff, account, customer, state, account_form.field_errors(messages, order), market_ids, seen, 422
        )
    except parameters.ChangeRefused as refused:
        stale = isinstance(refused, parameters.ChangedMeanwhile)
        if stale:
            seen = refused.current
        return _render(
            staff,
            account,
            customer,
            state,
            account_form.field_errors(refused.errors_for(staff), order),
            market_ids,
            seen,
            409 if stale else 422,
        )
    parameters.start_reruns(account.id, applied)
    if not applied.changes:
        flash("Nothing was changed.", "info")
    elif applied.reruns:
        flash("Parameters saved. Running again: " + ", ".join(stage_label(s) for s in applied.reruns) + ".", "success")
    else:
        flash("Parameters saved. Nothing needs to run again.", "success")
    return redirect(url_for("customers.account_page", account_id=account.id), 303)


def _render(staff, account, customer, state, errors, market_ids, seen, status=200):
    return render_template(
        "edit_parameters.html",
        account=account,
        seen=seen,
        customer=customer,
        state=state,
        errors=errors,
        market_ids=market_ids,
        **account_form.market_cards(staff.organisation_id),
    ), status
