"""Creating, changing and deleting optimisations, and recording fixings — within the limits.

Every door (API, pages) calls these with the side acting ("kam" or "customer", see `limits`) and
a label for the audit trail; each checks the limits first and writes in one transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from marshmallow import ValidationError

from shared import idempotency
from shared.db import database
from shared.models import AuditEvent, CustomerAccount, Fixing, Optimisation, utcnow
from shared.optimisations import limits
from shared.optimisations.schemas import MARKET_IS_FIXED, PARAMETERS, OptimisationSchema, complete, whole_problems


def _audit(optimisation: Optimisation, actor: str, action: str, detail: dict) -> None:
    account = optimisation.account
    AuditEvent.create(
        organisation=account.organisation_id,
        account=account.id,
        actor=actor,
        action=action,
        detail={"optimisation": optimisation.id, **detail},
    )


def _resolve(account: CustomerAccount, data: dict) -> dict:
    """Defaults that depend on the account, and the checks that need it: the forecast must be one
    the account may use, recipients only people who exist."""
    kinds = limits.forecast_kinds(account, data["market"])
    if data["forecast"] is None:
        if not kinds:
            raise limits.Refused(
                422, "No forecast is shared with the account for this market.", field="forecast", limit="forecasts"
            )
        data["forecast"] = kinds[0]
    elif data["forecast"] not in kinds:
        raise limits.Refused(
            422,
            f"The {data['forecast']} forecast is not available to this account on this market "
            f"(available: {', '.join(kinds) or 'none'}).",
            field="forecast",
            limit="forecasts",
        )
    if data["notify_recipients"] is None:
        data["notify_recipients"] = ["customer"] if account.app_access else ["kam"]
    if "customer" in data["notify_recipients"] and not account.app_access:
        raise limits.Refused(
            422,
            "The customer has no access to the application: only the KAM can be notified.",
            field="notify_recipients",
            limit="app_access",
        )
    return data


def create(account: CustomerAccount, data: dict, side: str, actor: str, today: dt.date) -> Optimisation:
    """Create from a loaded OptimisationSchema dict. Raises limits.Refused or ValidationError."""
    sent = {field for field, value in data.items() if value is not None}
    data = complete(data, today)
    with database.atomic():
        account = limits.held(account.id)  # the count check and the insert in turn with other writers
        limits.check_create(account, data["market"], side, today)
        data = limits.fit_window(account, _resolve(account, data), sent, defaulted_end="window_end" not in sent)
        optimisation = Optimisation.create(
            account=account, market=data["market"], created_by=actor, **{field: data[field] for field in PARAMETERS}
        )
        _audit(optimisation, actor, "optimisation.created", {"name": optimisation.name, "market": optimisation.market})
    return optimisation


def _held(optimisation: Optimisation) -> Optimisation:
    """The optimisation as stored now, its account held (`limits.held`) for the rest of the
    transaction, so that what is checked against it (limits, recorded fixings, parameters) is
    what the write lands on. Raises limits.Refused (404) if it was deleted meanwhile."""
    account = limits.held(optimisation.account_id)
    current = Optimisation.get_or_none(Optimisation.id == optimisation.id)
    if current is None:
        raise limits.Refused(404, "This optimisation was deleted meanwhile.")
    current.account = account
    return current


def as_input(optimisation: Optimisation) -> dict:
    """The optimisation in the shape OptimisationSchema loads (for a PATCH merged over it)."""
    return OptimisationSchema().dump(
        {"market": optimisation.market, **{field: getattr(optimisation, field) for field in PARAMETERS}}
    )


#: What a form made before the optimisation last changed hears when it is saved.
CHANGED_MEANWHILE = (
    "This optimisation was changed (in another tab, by someone else or through the API) after this page was "
    "opened, so nothing was saved: its page says what it holds now. Your answers are below; check them and "
    "save again."
)


class ChangedMeanwhile(limits.Refused):
    """The edit form was made from parameters the optimisation no longer has; `current` is the
    version now, which the form shown again carries, so that saving it again is a knowing decision."""

    def __init__(self, current: str):
        super().__init__(409, CHANGED_MEANWHILE)
        self.current = current


def version(optimisation: Optimisation) -> str:
    """The optimisation's parameters as they are now, in a few characters. The edit page sends
    every parameter, so it carries the version it was shown and `change` compares it: a page
    left open would otherwise, once saved, silently undo whatever was changed since."""
    return idempotency.form_version(as_input(optimisation))


def change(
    optimisation: Optimisation, patch: dict, side: str, actor: str, today: dt.date, *, seen: str | None = None
) -> Optimisation:
    """Apply a partial change (raw input fields). The market cannot change; the merged whole is
    validated again, and against the fixings already recorded. Writes the change and its audit
    event in one transaction and returns the optimisation as stored (unchanged: nothing written).
    `seen`: the `version` a whole form was made from, refused (`ChangedMeanwhile`) when the
    optimisation has changed since; None: no such check (the API's PATCH names what it changes).
    Raises limits.Refused when `side` may not edit, the account is not active or a limit
    refuses, and a ValidationError by field for bad input; nothing is written then."""
    with database.atomic():
        optimisation = _held(optimisation)
        account = optimisation.account
        limits.check_change_of(optimisation, side, today)
        if seen is not None and seen != version(optimisation):
            raise ChangedMeanwhile(version(optimisation))
        if "market" in patch and patch["market"] != optimisation.market:
            raise ValidationError({"market": [MARKET_IS_FIXED]})
        merged = {**as_input(optimisation), **patch}
        # Partial: the rules across fields are checked here, knowing which fields the caller sent,
        # so that an error names one of them rather than a stored value it did not touch.
        data = OptimisationSchema().load(merged, partial=True)
        problems = whole_problems(data, sent=set(patch))
        if problems:
            raise ValidationError(problems)
        data = limits.fit_window(account, _resolve(account, complete(data, today, sent=set(patch))), set(patch))
        problems = fixing_conflicts(data, _fixed(optimisation))
        if problems:
            raise ValidationError(problems)
        changes = {
            field: [str(getattr(optimisation, field)), str(data[field])]
            for field in PARAMETERS
            if getattr(optimisation, field) != data[field]
        }
        if not changes:
            return optimisation
        Optimisation.update(updated_at=utcnow(), **{field: data[field] for field in PARAMETERS}).where(
            Optimisation.id == optimisation.id
        ).execute()
        _audit(optimisation, actor, "optimisation.changed", {"changes": changes})
    return Optimisation.get_by_id(optimisation.id)


def delete(optimisation: Optimisation, side: str, actor: str) -> None:
    """Delete the optimisation and its fixings, with an audit event, in one transaction.
    Raises limits.Refused (403) when `side` is not the account's editor; deletes nothing then."""
    with database.atomic():
        optimisation = _held(optimisation)
        limits.check_edit(optimisation.account, side)
        _audit(optimisation, actor, "optimisation.deleted", {"name": optimisation.name, "market": optimisation.market})
        optimisation.delete_instance(recursive=True)


def _fixed(optimisation: Optimisation) -> list[Fixing]:
    return list(optimisation.fixings.where(Fixing.status == "fixed").order_by(Fixing.fixed_on, Fixing.id))


def fixing_conflicts(data: dict, fixed: list[Fixing]) -> dict:
    """Parameters that the fixings already recorded would break, by field."""
    problems: dict[str, list[str]] = {}
    if len(fixed) > data["max_fixings"]:
        problems["max_fixings"] = [f"{len(fixed)} fixings are recorded already: the number allowed cannot be lower."]
    if any(f.share_pct < data["min_share_pct"] for f in fixed):
        problems["min_share_pct"] = ["A recorded fixing has a smaller share than this minimum."]
    if any(not data["window_start"] <= f.fixed_on <= data["window_end"] for f in fixed):
        problems["window_start"] = ["A recorded fixing lies outside this window."]
    return problems


def record_fixing(optimisation: Optimisation, fixing: dict, side: str, actor: str, today: dt.date) -> Fixing:
    """Record a fixing made (a loaded FixingSchema dict). It must fit the contract: inside the
    window and not in the future, at least the minimum share, leaving either nothing or at least
    the minimum for later, and the last fixing allowed must complete the volume. Writes it, with
    its audit event, in one transaction and returns it. Raises limits.Refused when `side` may
    not edit (403) or the account is not active (409), and a ValidationError by field when it
    does not fit; nothing is written then."""
    with database.atomic():
        optimisation = _held(optimisation)  # two fixings recorded at once take turns
        limits.check_change_of(optimisation, side, today)
        fixed = _fixed(optimisation)
        errors: dict[str, list[str]] = {}
        day, share = fixing["fixed_on"], fixing["share_pct"]
        minimum = Decimal(optimisation.min_share_pct)
        remaining = Decimal(100) - sum((Decimal(f.share_pct) for f in fixed), Decimal(0))
        if day > today:
            errors["fixed_on"] = ["A fixing is recorded once made: the date cannot be in the future."]
        elif not optimisation.window_start <= day <= optimisation.window_end:
            errors["fixed_on"] = [
                f"Must lie in the fixing window ({optimisation.window_start.isoformat()} to "
                f"{optimisation.window_end.isoformat()})."
            ]
        if len(fixed) >= optimisation.max_fixings:
            errors["_schema"] = [f"The contract allows {optimisation.max_fixings} fixing(s); all are recorded."]
        elif share > remaining:
            errors["share_pct"] = [f"Only {remaining} % of the volume is left to fix."]
        elif share < minimum and share != remaining:
            errors["share_pct"] = [f"Each fixing is at least {minimum} % of the volume (min_share_pct)."]
        elif Decimal(0) < remaining - share < minimum:
            errors["share_pct"] = [
                f"This would leave {remaining - share} % to fix, below the minimum share of "
                f"{minimum} %: fix {remaining} % or at most {remaining - minimum} %."
            ]
        elif len(fixed) + 1 == optimisation.max_fixings and share != remaining:
            errors["share_pct"] = [
                f"This is the last fixing the contract allows: it must cover the remaining {remaining} %."
            ]
        if errors:
            raise ValidationError(errors)
        row = Fixing.create(
            optimisation=optimisation, fixed_on=day, price=fixing["price"], share_pct=share, recorded_by=actor
        )
        Optimisation.update(updated_at=utcnow()).where(Optimisation.id == optimisation.id).execute()
        _audit(optimisation, actor, "fixing.recorded", {"fixing": row.id, "share_pct": str(share)})
    return row


def cancel_fixing(optimisation: Optimisation, fixing: Fixing, side: str, actor: str, today: dt.date) -> Fixing:
    """Mark the fixing cancelled (a cancelled one stays so), touch the optimisation and audit
    it, in one transaction; returns the fixing as stored now. Raises limits.Refused (403) when
    `side` is not the account's editor, 409 when the account is not active. The caller checks
    the fixing belongs to the optimisation."""
    with database.atomic():
        optimisation = _held(optimisation)
        limits.check_change_of(optimisation, side, today)
        Fixing.update(status="cancelled", cancelled_at=utcnow()).where(
            (Fixing.id == fixing.id) & (Fixing.status == "fixed")
        ).execute()
        Optimisation.update(updated_at=utcnow()).where(Optimisation.id == optimisation.id).execute()
        _audit(optimisation, actor, "fixing.cancelled", {"fixing": fixing.id})
    return Fixing.get_by_id(fixing.id)
