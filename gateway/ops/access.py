"""Who may use /ops, on top of the KAM pages' session login (gateway.web.auth, reused as is).

Operators run the service: they see every account and act on dead letters. Managers see the
same system numbers, but the account lists, counts and timelines of their organisation only
(shared.visibility), and may retry those accounts; dead letters are an operator's job. Anyone
else logged in gets 403; nobody logged in is sent to the login page and back.
"""

from __future__ import annotations

import functools

from flask import abort
from flask_login import current_user, login_required

from shared.visibility import visible_accounts

OPS_ROLES = ("operator", "manager")


def ops_required(view):
    @login_required
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if current_user.role not in OPS_ROLES:
            abort(403, description="These pages are for operators and managers.")
        return view(*args, **kwargs)

    return guarded


def is_operator() -> bool:
    return current_user.is_authenticated and current_user.role == "operator"


def operator_required(view):
    @ops_required
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not is_operator():
            abort(403, description="Only operators requeue or discard dead letters.")
        return view(*args, **kwargs)

    return guarded


def account_scope():
    """The accounts the person may see on /ops: None (all) for an operator."""
    return None if is_operator() else visible_accounts(current_user.user)
