"""The limits the KAM set in step 2, applied to optimisations, and who may do what with them.

The article, "Setting up of the account":
- Case 1 (no access): "You can now create as many optimisations as you want for the customer":
  the KAM side creates any number, on any market the organisation offers, and is the editor.
- Case 2 (access): at most `max_optimisations` per market, only on the account's markets, only
  inside the market's access window (start date .. end date). Before the start date the
  customer has "access to the application without the information" (the market is listed, no
  forecast, no advice); after the end date no new forecast or advice reaches them, and what
  existed stays readable.
- The editor ("The KAM" or "The customer") alone inserts or modifies the parameters, switches
  the notifications and updates the fixing statuses; the other side reads. Both always see the
  calendar.
Who is on which side, and the editor rule itself, are said in shared.permissions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from shared import db, permissions, rules, workflow
from shared.markets import CATALOGUE
from shared.models import CustomerAccount, MarketAccess, Optimisation, OrganisationMarket

KAM, CUSTOMER = permissions.KAM_SIDE, permissions.CUSTOMER_SIDE
BEFORE, OPEN, ENDED = "before", "open", "ended"


class Refused(Exception):
    """Not allowed: `status` is the HTTP answer (403 editor, 409 limit, 422 invalid), `field`
    the input it concerns (or None), `limit` the name of the limit that refused it."""

    def __init__(self, status: int, message: str, *, field: str | None = None, limit: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.limit = status, message, field, limit


def held(account_id: int) -> CustomerAccount:
    """The account as stored now, held until the caller's transaction ends: every write to an
    account's optimisations, their fixings and its limits takes it first, then checks the limits
    on what it read. Two writers of one account so take turns (PostgreSQL: `SELECT ... FOR
    UPDATE`; SQLite's `BEGIN IMMEDIATE` holds the writer lock already): a create cannot take the
    last place while a change lowers the maximum, nor two fixings share the same 60 % left."""
    return db.locking(CustomerAccount.select().where(CustomerAccount.id == account_id)).get()


def editor(account: CustomerAccount) -> str:
    """Who edits (shared.permissions says): the KAM side in Case 1, else the chosen editor."""
    return permissions.optimisation_editor(account.app_access, account.editor)


def not_active(account: CustomerAccount) -> str | None:
    """Why the account takes no optimisation now, or None when it does. Only an active account
    does: the article's "Henceforth ... can create optimisations" comes once the account is
    created and set up, never on a request still pending (its market limits are not checked
    yet) or rejected (final); a change of parameters re-running its stages pauses it too."""
    if account.status == workflow.ACTIVE:
        return None
    return workflow.rejected_refusal(account.status) or (
        f"The account is {account.status.replace('_', ' ')}, not active: optimisations can be created and "
        f"changed once it is active."
    )


def check_active(account: CustomerAccount) -> None:
    """Return if the account takes optimisations (it is active); else raise Refused (409, limit
    "status") saying why (`not_active`)."""
    reason = not_active(account)
    if reason is not None:
        raise Refused(409, reason, limit="status")


def may_edit(account: CustomerAccount, side: str) -> bool:
    """Whether `side` is the editor of the account's optimisations (permissions.may_edit_optimisations):
    who deletes one, whatever the account's status."""
    return permissions.may_edit_optimisations(side, account.app_access, account.editor)


def may_change(account: CustomerAccount, side: str) -> bool:
    """Whether `side` creates and changes the account's optimisations and fixings now: its
    editor, while it is active (`check_change` is the refusal)."""
    return not_active(account) is None and may_edit(account, side)


def check_edit(account: CustomerAccount, side: str) -> None:
    """Return if `side` edits the account's optimisations; else raise Refused (403, limit
    "editor") with a message for that side saying who edits."""
    if may_edit(account, side):
        return
    if side == KAM:
        raise Refused(
            403,
            "The customer is the editor of this account's optimisations: only the customer inserts "
            "or modifies parameters, switches notifications and updates fixings; the KAM reads.",
            limit="editor",
        )
    raise Refused(
        403,
        "Your KAM is the editor of your optimisations: call them to change a parameter, the notifications or a fixing.",
        limit="editor",
    )


def check_change(account: CustomerAccount, side: str) -> None:
    """Return if `side` may create or change the account's optimisations and fixings now: the
    account is active (else Refused 409, `check_active`) and `side` is its editor (else Refused
    403, `check_edit`)."""
    check_active(account)
    check_edit(account, side)


def phase(access: MarketAccess, today: dt.date) -> str:
    """Where `today` lies in the market's access window."""
    if today < access.start_date:
        return BEFORE
    if today > access.end_date:
        return ENDED
    return OPEN


def market_access(account: CustomerAccount, market: str) -> MarketAccess | None:
    """The account's access to `market`, or None when it has none."""
    return MarketAccess.get_or_none((MarketAccess.account == account.id) & (MarketAccess.market == market))


def count_on(account: CustomerAccount, market: str, *, excluding: int | None = None) -> int:
    """How many optimisations the account has on `market`, not counting the one with id
    `excluding` (the one being edited)."""
    query = Optimisation.select().where((Optimisation.account == account.id) & (Optimisation.market == market))
    if excluding is not None:
        query = query.where(Optimisation.id != excluding)
    return query.count()


def check_create(account: CustomerAccount, market: str, side: str, today: dt.date) -> None:
    """Whether `side` may create an optimisation on `market` today; raises Refused naming the limit."""
    check_change(account, side)
    if not account.app_access:
        offered = OrganisationMarket.select().where(
            (OrganisationMarket.organisation == account.organisation_id) & (OrganisationMarket.market == market)
        )
        if not offered.exists():
            raise Refused(422, rules.NOT_OFFERED, field="market", limit="markets")
        return
    access = market_access(account, market)
    if access is None:
        raise Refused(
            422,
            "This market is not one of the account's markets (set in the account's parameters).",
            field="market",
            limit="markets",
        )
    _check_open(access, today, "optimisations can be created from then", "no new optimisation", field="market")
    if count_on(account, market) >= access.max_optimisations:
        raise Refused(
            409,
            f"The account may have at most {access.max_optimisations} optimisation(s) on this market "
            f"(max_optimisations), and has them already.",
            field="market",
            limit="max_optimisations",
        )


def _check_open(access: MarketAccess, today: dt.date, before: str, ended: str, *, field: str | None) -> None:
    """Raise Refused (409, limit start_date or end_date) when `today` is outside the market's
    access window, saying `before` or `ended` after the date."""
    window = phase(access, today)
    if window == BEFORE:
        raise Refused(
            409,
            f"Access to this market starts on {access.start_date.isoformat()}: {before}.",
            field=field,
            limit="start_date",
        )
    if window == ENDED:
        raise Refused(
            409,
            f"Access to this market ended on {access.end_date.isoformat()}: {ended}.",
            field=field,
            limit="end_date",
        )


def check_change_of(optimisation: Optimisation, side: str, today: dt.date) -> None:
    """Return if `side` may change `optimisation` today (its parameters, notifications, fixings):
    `check_change`, and in Case 2 its market's access window open, as for a creation. Before the
    start date the customer has the application without the information, after the end date
    what existed stays readable as of then: a change made outside the window would be advice
    they do not get, or a fixing their calendar does not show. Deleting is `check_edit`'s."""
    account = optimisation.account
    check_change(account, side)
    access = market_access(account, optimisation.market) if account.app_access else None
    if access is not None:
        _check_open(
            access,
            today,
            "its optimisations can be changed and fixings recorded from then",
            "its optimisations and fixings no longer change (they stay readable, and may be deleted)",
            field=None,
        )


def may_change_of(optimisation: Optimisation, side: str, today: dt.date) -> bool:
    """Whether `check_change_of` lets `side` change `optimisation` today (the pages' controls)."""
    try:
        check_change_of(optimisation, side, today)
    except Refused:
        return False
    return True


def fit_window(account: CustomerAccount, data: dict, sent: set[str], *, defaulted_end: bool = False) -> dict:
    """Hold a completed optimisation's fixing window inside its market's access window (Case 2):
    after the end date no advice reaches the customer, so a window ending later would advise
    fixings they never see. A `window_start` or `window_end` the caller sent past the end date
    is refused (422, limit end_date); a window end left to its default (`defaulted_end`: the day
    before delivery, on a creation) ends on the end date instead. A stored window the caller did
    not touch is left as it is. Returns `data`, its window end possibly moved."""
    access = market_access(account, data["market"]) if account.app_access else None
    if access is None or data["window_end"] <= access.end_date:
        return data
    end = access.end_date.isoformat()
    for field in ("window_start", "window_end"):
        if field in sent and data[field] > access.end_date:
            raise Refused(
                422,
                f"Must be on or before the market's end date ({end}): after it no advice reaches the customer.",
                field=field,
                limit="end_date",
            )
    if defaulted_end:
        data = {**data, "window_end": access.end_date}
    return data


def forecast_kinds(account: CustomerAccount, market: str) -> list[str]:
    """The forecasts an optimisation on `market` may use: those shared with the account; in
    Case 1 (nothing is shared, the customer sees nothing) the application's and the manager's."""
    from shared.optimisations import forecasts

    if not account.app_access:
        kinds = ["application"]
        if market in forecasts.markets_with_manager_forecasts(account.organisation_id):
            kinds.append("manager")
        return kinds
    return forecasts.shared_kinds(account, market)


@dataclasses.dataclass(frozen=True)
class Sight:
    """What a side sees of a market's information today."""

    forecast: bool  # forecasts and advice are shown
    frozen_at: dt.date | None  # after the end date: what existed then, nothing newer


def sight(account: CustomerAccount, market: str, side: str, today: dt.date) -> Sight:
    """What `side` sees of `market` today: the KAM side (and a customer without access, who has no
    login) always sees forecasts and advice; the customer sees them inside its access window,
    nothing before it, and after its end date what existed then (`frozen_at`)."""
    if side == KAM or not account.app_access:
        return Sight(True, None)
    access = market_access(account, market)
    if access is None:
        return Sight(False, None)
    window = phase(access, today)
    if window == BEFORE:
        return Sight(False, None)
    if window == ENDED:
        return Sight(True, access.end_date)
    return Sight(True, None)


def may_upload_client_forecast(account: CustomerAccount, market: str, today: dt.date) -> None:
    """Return if the customer may upload their own forecast for `market` today: the market's
    access shares the client option and its window is open. Else raise Refused: 403 without the
    option, 409 (limit start_date or end_date) outside the window, 422 for a market that is not
    in the catalogue (a forged choice: checked before any query, as the manager's page does)."""
    if market not in CATALOGUE:
        raise Refused(422, "Choose one of the markets shared with you.", field="market", limit="markets")
    access = market_access(account, market)
    if access is None or "client" not in access.forecasts:
        raise Refused(
            403, "The client forecast option is not shared with you for this market.", field="market", limit="forecasts"
        )
    window = phase(access, today)
    if window != OPEN:
        raise Refused(
            409,
            f"Your access to this market is {'not open yet' if window == BEFORE else 'over'} "
            f"({access.start_date.isoformat()} to {access.end_date.isoformat()}).",
            field="market",
            limit="start_date" if window == BEFORE else "end_date",
        )


def orphan_problems(account: CustomerAccount, setup: dict) -> dict:
    """A change of the limits that would leave optimisations outside them, as marshmallow-shaped
    errors under "setup" (empty when the change is fine): a market removed or its maximum put
    below the optimisations it has, access switched off, or a forecast an optimisation follows no
    longer shared (its advice would come from a curve the account is not given). Refused rather
    than archived: the KAM deletes the optimisations, or switches their forecast, first."""
    rows = list(
        Optimisation.select(Optimisation.market, Optimisation.forecast, Optimisation.name)
        .where(Optimisation.account == account.id)
        .order_by(Optimisation.market, Optimisation.id)
    )
    if not rows:
        return {}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.market] = counts.get(row.market, 0) + 1
    if not setup.get("app_access"):
        if account.app_access:
            total = sum(counts.values())
            return {
                "app_access": [
                    f"The account has {total} optimisation(s) made under its access limits; switching access off would "
                    f"leave them outside any limit. Delete them first."
                ]
            }
        return {}
    wanted = {m["market"]: m for m in setup.get("markets") or []}
    problems: dict = {}
    for market, count in sorted(counts.items()):
        if market not in wanted:
            problems.setdefault("markets", []).append(
                f"{market} has {count} optimisation(s): it cannot be removed until they are deleted."
            )
        elif wanted[market]["max_optimisations"] < count:
            problems.setdefault("markets", []).append(
                f"{market} has {count} optimisation(s): its maximum cannot go below {count}."
            )
    for row in rows:
        if row.market in wanted and row.forecast not in wanted[row.market]["forecasts"]:
            problems.setdefault("markets", []).append(
                f"{row.market}: the optimisation “{row.name}” follows the {row.forecast} forecast, so it must stay "
                f"shared until that optimisation uses another forecast or is deleted."
            )
    return problems
