"""The page 'CUSTOMER ACCOUNTS' (searchable, paginated) and each account's page, whose progress
refreshes by itself through a small JSON endpoint."""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from gateway.page_query import query_value
from gateway.web.auth import current_staff, staff_required
from shared import permissions, resend, stage_history, trials, visibility, workflow
from shared.models import AuditEvent, CustomerAccount, MarketAccess
from shared.schemas import MAX_PAGE

customers = Blueprint("customers", __name__, url_prefix="/customers")

PER_PAGE = 20


def _page_number() -> int:
    """?page=N, from 1 to MAX_PAGE; anything else is a clear 400, never a database overflow."""
    text = query_value("page", "1").strip()
    if not re.fullmatch(r"[0-9]{1,7}", text) or not 1 <= int(text) <= MAX_PAGE:
        abort(400, description=f"The page number must be a whole number from 1 to {MAX_PAGE:,}.")
    return int(text)


def visible_or_404(account_id: int) -> CustomerAccount:
    account = visibility.visible_account(current_staff(), account_id)
    if account is None:
        abort(404, description="There is no such customer account among yours.")
    return account


@customers.route("")
@staff_required
def list_accounts():
    staff = current_staff()
    query_text = query_value("q").strip()
    page = _page_number()
    owners = visibility.account_owners(staff) if permissions.ACCOUNT_SCOPE[staff.role] == "organisation" else []
    kam_id = _kam_filter(owners)
    query = visibility.owned_by(visibility.search(visibility.visible_accounts(staff), query_text), kam_id)
    total = None if query_text else visibility.count_visible(staff, kam_id)
    items, total = visibility.page_of(query, page, PER_PAGE, searching=bool(query_text), total=total)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    if page > pages:
        # A link kept while accounts went away, or a number typed: the last page, rather than an
        # empty list under a count that says there are accounts.
        last = pages if pages > 1 else None
        return redirect(url_for("customers.list_accounts", q=query_text or None, kam=kam_id, page=last))
    markets = {}
    for row in (
        MarketAccess.select().where(MarketAccess.account.in_([a.id for a in items])).order_by(MarketAccess.market)
    ):
        markets.setdefault(row.account_id, []).append(row.market)
    return render_template(
        "customers.html",
        items=items,
        total=total,
        page=page,
        pages=pages,
        q=query_text,
        markets=markets,
        final=workflow.FINAL_STATUSES,
        owners=owners,
        kam=kam_id,
        owner_emails={user.id: user.email for user in owners},
    )


def _kam_filter(owners) -> int | None:
    """The manager's 'KAM' filter: one of the organisation's KAMs, or none; anything else is a
    clear 400 rather than a list silently showing everyone."""
    text = query_value("kam").strip()
    if not text or not owners:
        return None
    ids = {str(user.id): user.id for user in owners}
    if text not in ids:
        abort(400, description="There is no such KAM in your organisation: choose one in the list.")
    return ids[text]


def _progress(account: CustomerAccount) -> dict:
    """Everything the live part of the account page shows."""
    return {
        "account": account,
        "markets": list(account.markets.order_by(MarketAccess.market)),
        "runs": sorted(account.stage_runs, key=lambda run: workflow.STAGE_NAMES.index(run.stage)),
        "stage_runs": stage_history.stage_runs(account.id),
        "today": dt.date.today(),
        "sent": resend.sent_emails(account.id),
        "resends": resend.resend_count(account.id),
        "final": account.status in workflow.FINAL_STATUSES,
        "mail_from": current_app.config["KAMFLOW"].mail_from,
    }


@customers.route("/<int:account_id>")
@staff_required
def account_page(account_id: int):
    account = visible_or_404(account_id)
    history = account.audit_events.order_by(AuditEvent.at.desc()).limit(20)
    trial_ends_on = trials.ends_on(account, current_app.config["KAMFLOW"].trial_days)
    return render_template("account.html", history=history, trial_ends_on=trial_ends_on, **_progress(account))


@customers.route("/<int:account_id>/progress")
@staff_required
def progress(account_id: int):
    """The live part of the account page, rendered on the server (one template for both)."""
    account = visible_or_404(account_id)
    context = _progress(account)
    return jsonify(
        status=account.status, final=context["final"], html=render_template("_account_progress.html", **context)
    )


@customers.route("/<int:account_id>/status")
@staff_required
def status_badge(account_id: int):
    """A list row's live status: polled by the page while the account's workflow runs."""
    account = visible_or_404(account_id)
    return jsonify(
        status=account.status,
        final=account.status in workflow.FINAL_STATUSES,
        html=render_template("_status_badge.html", account=account),
    )


@customers.route("/<int:account_id>/resend-credentials", methods=["GET", "POST"])
@staff_required
def resend_credentials(account_id: int):
    """GET asks for confirmation (the previous link stops working); POST resends."""
    account = visible_or_404(account_id)
    if request.method == "GET":
        return render_template("resend_confirm.html", account=account)
    try:
        resend.request_resend(account, actor=current_staff().email)
    except resend.CannotResend as error:
        flash(str(error), "error")
        return redirect(url_for("customers.account_page", account_id=account.id), 303)
    resend.start(account.id)
    flash(f"The credentials are being sent again to {account.email}.", "success")
    return redirect(url_for("customers.account_page", account_id=account.id), 303)
