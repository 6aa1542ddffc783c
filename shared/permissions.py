"""Who may do what, on each door: the one table every guard reads.

Roles (`User.role`): `manager`, `kam`, `customer`, `operator`. Every person belongs to one
organisation (a supplier), and so does every API token. kamflow is multi-tenant, so every
door is scoped to the caller's organisation — an operator included: the web `operator` runs
/ops *for their organisation* (its accounts, their retries, the dead letters of its accounts)
and sees the system-wide numbers that carry no tenant data (queue depths, workers, stage
timings). Running the whole platform is done with the `kamflow` CLI by whoever holds the
deployment's DATABASE_URL and REDIS_URL (see docs/decisions.md, "Permissions").

Which accounts a role sees (`ACCOUNT_SCOPE`): a KAM the accounts they own; a manager and an
operator every account of their organisation; a customer none through staff doors (their own
through the customer's door). Anything outside is answered as if it did not exist (404).
"""

from __future__ import annotations

MANAGER, KAM, CUSTOMER, OPERATOR = "manager", "kam", "customer", "operator"
ROLES = (MANAGER, KAM, CUSTOMER, OPERATOR)

# The doors, and the actions behind them that not every role of a door may take.
KAM_PAGES = "kam pages"  # dashboard, customers, wizard, edit, resend, optimisations
CUSTOMER_PAGES = "customer pages"  # /my-account and the customer's optimisations and forecasts
OPS = "ops"  # /ops: system numbers, the organisation's accounts, Retry
DEAD_LETTERS = "dead letters"  # /ops: requeue or discard a dead message
METRICS = "metrics"  # /metrics with a session (Prometheus uses METRICS_TOKEN)
API_DOCUMENTS = "api documents"  # /api/docs and /api/openapi.json with a session
MANAGER_FORECASTS = "manager forecasts"  # upload the organisation's manager forecasts

ALLOWED: dict[str, frozenset[str]] = {
    KAM_PAGES: frozenset({KAM, MANAGER}),
    CUSTOMER_PAGES: frozenset({CUSTOMER}),
    OPS: frozenset({OPERATOR, MANAGER}),
    DEAD_LETTERS: frozenset({OPERATOR}),
    METRICS: frozenset({OPERATOR, MANAGER}),
    API_DOCUMENTS: frozenset({KAM, MANAGER, OPERATOR}),  # a customer's login is not an integrator's
    MANAGER_FORECASTS: frozenset({MANAGER}),
}

#: Said on a 403, per door.
REFUSALS = {
    KAM_PAGES: "These pages are for KAMs and managers.",
    CUSTOMER_PAGES: "This page is for customers.",
    OPS: "These pages are for operators and managers.",
    DEAD_LETTERS: "Only operators requeue or discard dead letters.",
    METRICS: "Metrics are for operators and managers.",
    API_DOCUMENTS: "The API documents are for staff and API tokens.",
    MANAGER_FORECASTS: "Only a manager uploads the company's forecasts.",
}

#: "organisation": every account of the person's organisation; "own": the accounts they own
#: (as KAM); "none": none through staff doors.
ACCOUNT_SCOPE = {MANAGER: "organisation", OPERATOR: "organisation", KAM: "own", CUSTOMER: "none"}

#: Who may own customer accounts (be named as `kam_email`, be filtered by on the lists).
ACCOUNT_OWNERS = (KAM, MANAGER)
#: Roles `kamflow create-user` makes; customers get their login from the workflow.
STAFF_ROLES = (MANAGER, KAM, OPERATOR)

#: Where each role lands after login (a Flask endpoint).
HOME = {OPERATOR: "ops.page", CUSTOMER: "my_account.show", KAM: "dashboard.show", MANAGER: "dashboard.show"}


def may(role: str | None, door: str) -> bool:
    """Whether a person of `role` (None: not logged in) may use `door` (a key of ALLOWED).
    Raises KeyError for a door ALLOWED does not name, so a new door cannot be open by omission."""
    return role in ALLOWED[door]


# --- An account's optimisations (the article, "Setting up of the account") --------------------
# The editor ("The KAM" or "The customer") alone inserts or modifies an optimisation's
# parameters, switches its notifications and updates its fixings; the other side reads; both
# always see the calendar. Without access (Case 1) the KAM side edits. The KAM side is the
# account's KAM, the organisation's managers and the organisation's API token (acting for the
# account's KAM); the customer side is the account's own login. The limits (markets, access
# windows, number per market) are in shared.optimisations.limits, which asks this.
KAM_SIDE, CUSTOMER_SIDE = "kam", "customer"
#: The side a role acts on for an account's optimisations.
SIDE_OF = {KAM: KAM_SIDE, MANAGER: KAM_SIDE, CUSTOMER: CUSTOMER_SIDE}
#: The side an API token acts on: its organisation's KAM's.
TOKEN_SIDE = KAM_SIDE


def optimisation_editor(app_access: bool, editor: str | None) -> str:
    """Which side edits an account's optimisations: its chosen editor when the customer has
    access, else the KAM side."""
    return editor if app_access and editor in (KAM_SIDE, CUSTOMER_SIDE) else KAM_SIDE


def may_edit_optimisations(side: str, app_access: bool, editor: str | None) -> bool:
    """Whether `side` ("kam" or "customer") may change an account's optimisations and
    fixings, given its access and editor; the other side only reads."""
    return side == optimisation_editor(app_access, editor)
