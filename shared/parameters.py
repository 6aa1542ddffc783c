"""Changing an account's parameters after creation, and re-running only what the change concerns.

The article: "You can modify the parameters after the creation of the customer account at
anytime." What a change sets in motion is decided here, once:
- access No -> Yes: provision_access, activate_markets, send_credentials (new credentials for a
  login that had access before: shared.resend.login_given_back);
- a demo converted (demo Yes -> No) after its trial ended, with access: send_credentials (its
  login works again, and the trial burned its links: new credentials, as for access given back);
- markets added or changed while the customer has access: activate_markets (the workflow then
  hands on to send_credentials, which sends nothing: the credentials email goes once per purpose,
  see shared.resend.credentials_purpose);
- contact, company, reference, demo flag otherwise, editor, removed markets, access Yes -> No:
  no stage.

`setup_problems` holds the checks against the organisation's data that a person should see
before submitting (the wizard and the edit page call it); the validate_customer stage re-checks
authoritatively with `shared.rules`.
"""

from __future__ import annotations

import dataclasses

import peewee

from shared import account_status, claims, idempotency, resend, rules, schemas, trials, workflow
from shared.access import switch_off_login
from shared.db import database
from shared.markets import in_article_order
from shared.models import AuditEvent, CustomerAccount, MarketAccess, User, utcnow
from shared.optimisations import limits

#: The customer's written fields (every door types them in) and all the customer fields a
#: change may touch. The email is neither: it never changes.
CUSTOMER_TEXT_FIELDS = ("company", "customer_reference", "last_name", "first_name", "phone")
CUSTOMER_FIELDS = CUSTOMER_TEXT_FIELDS + ("is_demo",)

#: What a market's set-up holds, besides which market it is.
MARKET_FIELDS = ("start_date", "end_date", "forecasts", "max_optimisations")

_MARKET = schemas.MarketSetupSchema()

#: What a form shown before the account's parameters last changed hears when it is saved.
CHANGED_MEANWHILE = (
    "The account's parameters were changed (in another tab, by someone else or by your CRM) after this "
    "page was opened, so nothing was saved: the account page's history says what changed. Your answers are "
    "below; check them and save again."
)


class ChangeRefused(Exception):
    """The change cannot be made; `errors` is shaped like marshmallow's, for the same display."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors

    def errors_for(self, user: User) -> dict:
        """`errors` as `user` may read them (the same, unless a subclass names an account)."""
        return self.errors


def setup_problems(organisation_id: int, setup: dict) -> dict:
    """The organisation-dependent problems of a loaded setup, as {"markets": {index: {field: [...]}}}
    (`rules.market_problems`); empty when the setup fits the organisation."""
    markets = [(market["market"], market["forecasts"]) for market in setup.get("markets") or []]
    problems = rules.market_problems(organisation_id, markets)
    return {"markets": problems} if problems else {}


def end_date_problems(account: CustomerAccount, change: dict) -> dict:
    """The end dates a (loaded, or partly loaded) change sets in the past, as
    {"setup": {"markets": {index: {"end_date": [...]}}}}; empty when there are none. Only a date
    the change sets counts: a market kept with its stored end date passes even once that date is
    past, so the rest of the account can still be edited (`schemas.past_end_dates`)."""
    setup = change.get("setup")
    if not isinstance(setup, dict) or not setup.get("app_access"):
        return {}
    stored = {row.market: row.end_date for row in account.markets}
    problems = schemas.past_end_dates(setup.get("markets"), stored)
    return {"setup": {"markets": problems}} if problems else {}


@dataclasses.dataclass(frozen=True)
class Applied:
    """What a change did: the audit event's changes and the stages it sends back to run."""

    changes: dict  # field -> [old, new], as recorded in the audit event
    reruns: tuple[str, ...]  # stage names to run again, in order


def _market_values(row: MarketAccess) -> dict:
    return {
        "start_date": row.start_date,
        "end_date": row.end_date,
        "forecasts": in_article_order(row.forecasts),
        "max_optimisations": row.max_optimisations,
    }


class ClaimTaken(ChangeRefused):
    """The change would give the account a customer reference another account holds. A
    ChangeRefused (the edit page shows it by the field); `account_id` names the holder, in the
    account's own organisation, so the API answers as a creation does (409, `existing_account`)."""

    def __init__(self, taken: claims.IdentityTaken | None):
        errors = taken.errors if taken else {"customer": {"customer_reference": [claims.REFERENCE_TAKEN]}}
        super().__init__(errors)
        self.taken = taken
        self.account_id = taken.account_id if taken else None
        self.message = str(taken) if taken else claims.REFERENCE_TAKEN

    def errors_for(self, user: User) -> dict:
        """The holder named only to a person who sees it (`claims.IdentityTaken.errors_for`): the
        edit page of a KAM whose new reference another KAM's customer holds says it is taken, not by whom."""
        return self.taken.errors_for(user) if self.taken else self.errors


class ChangedMeanwhile(ChangeRefused):
    """The form was made from parameters the account no longer has (`version`); `current` is the
    version now, which the form shown again carries, so that saving it again is a decision taken
    knowingly."""

    def __init__(self, current: str):
        super().__init__({"_schema": [CHANGED_MEANWHILE]})
        self.current = current


class LoginTaken(ChangeRefused):
    """Access given (No -> Yes) to an account whose email has become another user's login since
    it was created. Whose login it is is never said, as on creation; the API answers 409 as for
    a claim held (`account_id` None: no `existing_account`)."""

    account_id = None
    message = claims.EMAIL_TAKEN

    def __init__(self) -> None:
        super().__init__({"setup": {"app_access": [claims.EMAIL_TAKEN]}})


def keep_stored_start_dates(account: CustomerAccount, sent_markets: list[dict], setup: dict) -> dict:
    """A market of a whole `setup` sent (`sent_markets`, as the caller wrote them) without a start
    date keeps the one stored for it: the schema's default, today, is for a market being added;
    for an existing market it would move the start of its access to today, a change nobody
    asked for. Sets those dates in the loaded `setup` and returns the problems the markets then
    have, as {"markets": {index: {field: [...]}}} (empty when none)."""
    stored = {row.market: row.start_date for row in account.markets}
    problems = {}
    for index, (raw, market) in enumerate(zip(sent_markets, setup.get("markets") or [], strict=True)):
        if "start_date" not in raw and market["market"] in stored:
            market["start_date"] = stored[market["market"]]
            if found := _MARKET.validate(_MARKET.dump(market)):
                problems[index] = found
    return {"markets": problems} if problems else {}


def _apply_customer(account: CustomerAccount, customer: dict, changes: dict) -> bool:
    """Write the customer's fields; return whether a login the demo trial switched off works again."""
    login_back = False
    for field in CUSTOMER_FIELDS:
        if field in customer and customer[field] != getattr(account, field):
            changes[f"customer.{field}"] = [getattr(account, field), customer[field]]
            setattr(account, field, customer[field])
    if changes.get("customer.is_demo") == [True, False]:
        login_back = trials.convert(account)  # a demo becomes a real account: everything kept, the trial gone
    if "customer.customer_reference" in changes:
        # Every live account holds its reference, whatever it held before (one made without a
        # reference held none, and once let a PATCH give it a reference another account held):
        # move the claim and let the unique index decide. A rejected account was refused above;
        # one rejected meanwhile (its claims given back) is not matched, so it claims nothing.
        reference = claims.reference_claim(account.customer_reference)
        try:
            with database.atomic():
                moved = (
                    CustomerAccount.update(reference_claim=reference)
                    .where((CustomerAccount.id == account.id) & (CustomerAccount.status != workflow.REJECTED))
                    .execute()
                )
        except peewee.IntegrityError:
            taken = claims.find_holders(account.organisation_id, {"customer_reference": account.customer_reference})
            raise ClaimTaken(taken) from None
        if not moved:
            raise ChangeRefused({"_schema": [workflow.REJECTED_IS_FINAL]})
        account.reference_claim = reference
    return login_back


def _apply_setup(account: CustomerAccount, setup: dict, changes: dict) -> list[str]:
    """Write the setup; return the stages it concerns."""
    orphans = limits.orphan_problems(account, setup)
    if orphans:  # the limits would no longer cover existing optimisations: refuse, say why
        raise ChangeRefused(
            {"_schema": [message for messages in orphans.values() for message in messages], "setup": orphans}
        )
    had_access, access = account.app_access, setup["app_access"]
    if access != had_access:
        changes["setup.app_access"] = [had_access, access]
        account.app_access = access
    editor = setup.get("editor") if access else None
    if editor != account.editor:
        changes["setup.editor"] = [account.editor, editor]
        account.editor = editor
    existing = {row.market: row for row in account.markets}
    wanted = {m["market"]: m for m in (setup.get("markets") or [])} if access else {}
    touched = False
    for market, row in existing.items():
        if market not in wanted:
            changes[f"setup.markets.{market}"] = [_market_values(row), None]
            row.delete_instance()
    for market, values in wanted.items():
        values = {field: values[field] for field in MARKET_FIELDS}
        values["forecasts"] = in_article_order(values["forecasts"])
        current = existing.get(market)
        if current is None:
            MarketAccess.create(account=account, market=market, **values)
            changes[f"setup.markets.{market}"] = [None, values]
            touched = True
        elif _market_values(current) != values:
            changes[f"setup.markets.{market}"] = [_market_values(current), values]
            # Not an entitlement on the new terms until activate_markets has run again.
            MarketAccess.update(activated_at=None, **values).where(MarketAccess.id == current.id).execute()
            touched = True
    if access and not had_access:
        if rules.login_taken(account.email, account):
            raise LoginTaken()
        if account.user_id:  # access given back: the login that was switched off works again,
            User.update(active=True).where(User.id == account.user_id).execute()
            resend.login_given_back(account, resend.ACCESS_GIVEN_BACK)  # new credentials: its links were burned
        return ["provision_access", "activate_markets", "send_credentials"]
    if had_access and not access and account.user_id:
        switch_off_login(account.user_id)  # its sessions and unused links end with it
    return ["activate_markets"] if access and touched else []


def _schedule(account: CustomerAccount, stages: list[str]) -> tuple[str, ...]:
    """Put the account back at the first stage to re-run, or leave it to the running workflow."""
    if not stages:
        return ()
    first = workflow.stage(stages[0])
    if account.status != workflow.ACTIVE:
        due = workflow.stage_due(account.status)
        if due is not None and workflow.STAGE_NAMES.index(due.name) < workflow.STAGE_NAMES.index(first.name):
            return ()  # the workflow has not reached those stages yet: they will run on the new data
        raise ChangeRefused(
            {
                "_schema": [
                    f"This change needs the account's set-up to run again, which is possible once the account is "
                    f"active (it is {account.status.replace('_', ' ')} now)."
                ]
            }
        )
    if not account_status.send_back(account.id, workflow.ACTIVE, stages):
        raise ChangeRefused({"_schema": ["The account changed meanwhile; reload the page and try again."]})
    return tuple(stages)


def version(account: CustomerAccount) -> str:
    """The account's parameters as they are now, in a few characters. A form that sends every
    parameter (the edit page) carries the version it was shown and `apply_change` compares it:
    without it, a page left open in another tab would, once saved, silently undo whatever was
    changed since (a market added, a date moved). The status and the workflow's columns are not
    in it, so the workflow running meanwhile does not make a form stale."""
    values: dict = {field: getattr(account, field) for field in CUSTOMER_FIELDS + ("app_access", "editor")}
    values["markets"] = {row.market: _market_values(row) for row in account.markets}
    return idempotency.form_version(_jsonable(values))


def apply_change(account: CustomerAccount, change: dict, actor: str, *, seen: str | None = None) -> Applied:
    """Write a loaded `AccountChangeSchema` change in one transaction and record it. `seen`: the
    `version` the whole form was made from, refused (`CHANGED_MEANWHILE`) when the account has
    changed since (`ChangedMeanwhile`); None: no such check (the API's PATCH). Call
    `start_reruns` after this returns (after commit). Raises ChangeRefused."""
    with database.atomic():
        account = limits.held(account.id)  # in turn with optimisations being created on the old limits
        refusal = workflow.rejected_refusal(account.status)
        if refusal:
            raise ChangeRefused({"_schema": [refusal]})
        if seen is not None and seen != version(account):
            raise ChangedMeanwhile(version(account))
        past = end_date_problems(account, change)
        if past:
            raise ChangeRefused(past)
        changes: dict = {}
        login_back = "customer" in change and _apply_customer(account, change["customer"], changes)
        stages = _apply_setup(account, change["setup"], changes) if "setup" in change else []
        if login_back and account.app_access:  # still: the same change may take access away
            # The demo converted after its trial: its login is back, its links were burned.
            resend.login_given_back(account, resend.DEMO_CONVERTED)
            stages = [*stages, resend.STAGE]  # the last stage: the workflow's order is kept
        if not changes:
            return Applied({}, ())
        reruns = _schedule(account, stages)
        # Only the columns this change is about: a stage running meanwhile writes others.
        written = [
            field
            for field in CUSTOMER_FIELDS + ("app_access", "editor")
            if f"customer.{field}" in changes or f"setup.{field}" in changes
        ]
        CustomerAccount.update(
            **{field: getattr(account, field) for field in written},
            updated_at=utcnow(),
        ).where(CustomerAccount.id == account.id).execute()
        AuditEvent.create(
            organisation=account.organisation_id,
            account=account.id,
            actor=actor,
            action="parameters.changed",
            detail={"changes": _jsonable(changes), "reruns": list(reruns)},
        )
    return Applied(changes, reruns)


def start_reruns(account_id: int, applied: Applied) -> None:
    """Send the first stage to re-run; if the broker is down the reconciler sends it later."""
    if applied.reruns:
        account_status.send_stage(applied.reruns[0], account_id)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
