"""Who may use /ops (the rules are in shared.permissions), on the session login of the pages.

Operators and managers see the system numbers (queues, workers, stage timings: no tenant
data) and the accounts of their own organisation (lists, counts, timelines), and may retry
those; operators also requeue or discard the dead letters of their organisation's accounts.
Anyone else logged in gets 403; nobody logged in is sent to the login page and back.
"""

from __future__ import annotations

from flask_login import current_user

from gateway.web.auth import door_required
from shared import permissions
from shared.models import CustomerAccount
from shared.visibility import visible_account, visible_accounts

ops_required = door_required(permissions.OPS)
operator_required = door_required(permissions.DEAD_LETTERS)


def is_operator() -> bool:
    """May act on dead letters (the panel shows them, with their buttons)."""
    return current_user.is_authenticated and permissions.may(current_user.role, permissions.DEAD_LETTERS)


def account_scope():
    """The accounts the person may see on /ops: their organisation's (shared.visibility)."""
    return visible_accounts(current_user.user)


def visible(account_id: int) -> CustomerAccount | None:
    """The account if it is one of `account_scope()`, else None (read by its id: shared.visibility)."""
    return visible_account(current_user.user, account_id)
