"""The data, as peewee models bound to the shared `DatabaseProxy`.

Constraints are declared here so the database enforces them as well as the code: one login per
email, one customer reference per organisation, one market once per account, one credentials
email per request, one idempotency key per organisation.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import peewee as pw

from shared import workflow
from shared.db import database


def utcnow() -> dt.datetime:
    """Now in UTC, naive: how every timestamp is stored (both databases compare them alike)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONField(pw.TextField):
    """A JSON value kept as text (keys sorted, so equal values store equal); None stays NULL."""

    def db_value(self, value: Any) -> str | None:
        """The value as JSON text, None as NULL."""
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        """The stored JSON text as Python values, NULL as None."""
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    # The primary key peewee would add anyway, written out so mypy sees `Model.id`. Each model's
    # `if TYPE_CHECKING:` block likewise declares what peewee makes at class creation and the
    # type checker cannot see: a foreign key's `<name>_id` column and the backrefs.
    """Every table: bound to the shared database proxy, snake_case table names."""

    id = pw.AutoField()

    class Meta:
        database = database
        legacy_table_names = False


class Organisation(BaseModel):
    """An energy supplier using kamflow: its staff, customer accounts, tokens and webhooks."""

    slug = pw.CharField(max_length=64, unique=True)
    name = pw.CharField(max_length=200)
    created_at = pw.DateTimeField(default=utcnow)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        offered_markets: pw.ModelSelect[OrganisationMarket]
        users: pw.ModelSelect[User]
        accounts: pw.ModelSelect[CustomerAccount]
        api_tokens: pw.ModelSelect[ApiToken]
        webhook_endpoints: pw.ModelSelect[WebhookEndpoint]
        forecast_uploads: pw.ModelSelect[ForecastUpload]


class OrganisationMarket(BaseModel):
    """A market of the catalogue that the organisation offers to its customers."""

    organisation = pw.ForeignKeyField(Organisation, backref="offered_markets", on_delete="CASCADE")
    market = pw.CharField(max_length=32)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]

    class Meta:
        indexes = ((("organisation", "market"), True),)


ROLES = ("manager", "kam", "customer", "operator")


class User(BaseModel):
    """A login: staff of an organisation (manager, KAM, operator) or a customer of one of its
    accounts. The email is unique across organisations: it is what a person types to log in."""

    organisation = pw.ForeignKeyField(Organisation, backref="users", on_delete="CASCADE")
    email = pw.CharField(max_length=254, unique=True)  # the login
    role = pw.CharField(max_length=16, constraints=[pw.Check("role IN ('manager', 'kam', 'customer', 'operator')")])
    first_name = pw.CharField(max_length=100, default="")
    last_name = pw.CharField(max_length=100, default="")
    password_hash = pw.CharField(max_length=255, null=True)  # null until set through the emailed link
    active = pw.BooleanField(default=True)
    #: Every session cookie carries the version of its login; bumping it ends them all (shared.sessions).
    session_version = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]
        customer_accounts: pw.ModelSelect[CustomerAccount]
        customer_account: pw.ModelSelect[CustomerAccount]  # at most one: the FK is unique
        set_password_tokens: pw.ModelSelect[SetPasswordToken]
        login_events: pw.ModelSelect[LoginEvent]


class CustomerAccount(BaseModel):
    """A customer account being created or created: the article's two steps (customer, setup),
    its place in the workflow (`status`, written only by shared.account_status), and its login."""

    organisation = pw.ForeignKeyField(Organisation, backref="accounts", on_delete="CASCADE")
    kam = pw.ForeignKeyField(User, backref="customer_accounts")
    company = pw.CharField(max_length=200)
    customer_reference = pw.CharField(max_length=64, null=True)
    last_name = pw.CharField(max_length=100)
    first_name = pw.CharField(max_length=100)
    phone = pw.CharField(max_length=32)  # E.164
    email = pw.CharField(max_length=254)  # never changes after creation
    is_demo = pw.BooleanField()
    trial_ended_at = pw.DateTimeField(null=True)  # set by the daily maintenance when the trial is over
    app_access = pw.BooleanField()
    editor = pw.CharField(max_length=16, null=True)  # "kam" | "customer" when app_access
    user = pw.ForeignKeyField(User, null=True, backref="customer_account", unique=True)  # the customer's login
    status = pw.CharField(max_length=32, default=workflow.PENDING, index=True)
    rejection_reasons = JSONField(null=True)  # {"field": ["reason", ...]} when rejected
    # Claims: set by the validate stage, cleared on rejection, so a rejected request frees its
    # email and reference while the database keeps live ones unique.
    email_claim = pw.CharField(max_length=254, null=True, unique=True)
    reference_claim = pw.CharField(max_length=64, null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow, index=True)
    #: Not columns: set on the account shared.accounts has just written, its stage runs and
    #: markets as written, so that describing it in the same request reads nothing back.
    new_runs: list[StageRun] | None = None
    new_markets: list[MarketAccess] | None = None

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]
        kam_id: pw.ForeignKeyField[int]
        user_id: pw.ForeignKeyField[int | None]
        markets: pw.ModelSelect[MarketAccess]
        stage_runs: pw.ModelSelect[StageRun]
        stage_attempts: pw.ModelSelect[StageAttempt]
        emails: pw.ModelSelect[OutboxEmail]
        webhook_deliveries: pw.ModelSelect[WebhookDelivery]
        audit_events: pw.ModelSelect[AuditEvent]
        forecast_uploads: pw.ModelSelect[ForecastUpload]
        optimisations: pw.ModelSelect[Optimisation]

    class Meta:
        indexes = (
            # The reference's claim, unique in the organisation. Reference first: given an
            # organisation and a reference, no index of the lists below can look as good to the
            # planner while it has no statistics yet (0008; shared.claims.free).
            (("reference_claim", "organisation"), True),
            # The lists, newest first, without sorting the organisation's accounts each time: a
            # KAM's (Customers page), a manager's, and the API's status filter.
            (("organisation", "kam", "created_at"), False),
            (("organisation", "created_at"), False),
            (("organisation", "status"), False),
        )


class AccountCount(BaseModel):
    """How many accounts each organisation's KAM has in each status: the lists' totals, read in a
    few rows instead of counted over 100,000 index entries (docs/decisions.md). Kept by database
    triggers on customer_account (migration 0006), in the transaction of every write to it, so it
    cannot drift from the rows; never written by the application. One (organisation, KAM,
    status) is split over SHARDS rows by account id so that writers for one KAM seldom wait for
    each other's row lock."""

    SHARDS = 16

    organisation_id = pw.IntegerField()
    kam_id = pw.IntegerField()
    status = pw.CharField(max_length=32)
    shard = pw.SmallIntegerField()  # account id % SHARDS
    n = pw.IntegerField()

    class Meta:
        primary_key = pw.CompositeKey("organisation_id", "kam_id", "status", "shard")


class MarketAccess(BaseModel):
    """A market an account has access to, over a window, with its forecasts and how many
    optimisations it may hold."""

    # Not indexed alone: the unique (account, market) index starts with it.
    account = pw.ForeignKeyField(CustomerAccount, backref="markets", on_delete="CASCADE", index=False)
    market = pw.CharField(max_length=32)
    start_date = pw.DateField()
    end_date = pw.DateField()
    forecasts = JSONField()  # sorted list among shared.markets.FORECASTS
    max_optimisations = pw.IntegerField(constraints=[pw.Check("max_optimisations >= 1")])
    activated_at = pw.DateTimeField(null=True)  # set by activate_markets: now an entitlement
    closed_at = pw.DateTimeField(null=True)  # set by the daily maintenance once end_date has passed

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        account_id: pw.ForeignKeyField[int]

    class Meta:
        indexes = ((("account", "market"), True),)


class StageRun(BaseModel):
    """Where an account stands in one stage: one row per account and stage, updated per attempt."""

    # Not indexed alone: the unique (account, stage) index starts with it.
    account = pw.ForeignKeyField(CustomerAccount, backref="stage_runs", on_delete="CASCADE", index=False)
    stage = pw.CharField(max_length=32)
    state = pw.CharField(max_length=16, default=workflow.WAITING)
    attempts = pw.IntegerField(default=0)
    started_at = pw.DateTimeField(null=True)
    finished_at = pw.DateTimeField(null=True)
    error = pw.TextField(null=True)
    worker = pw.CharField(max_length=128, null=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        account_id: pw.ForeignKeyField[int]

    class Meta:
        indexes = ((("account", "stage"), True),)


class StageAttempt(BaseModel):
    """One attempt of one stage: the account's timeline (when, how long, which worker, what error)."""

    account = pw.ForeignKeyField(CustomerAccount, backref="stage_attempts", on_delete="CASCADE")
    stage = pw.CharField(max_length=32)
    attempt = pw.IntegerField()
    worker = pw.CharField(max_length=128, null=True)
    started_at = pw.DateTimeField(default=utcnow, index=True)
    finished_at = pw.DateTimeField(null=True, index=True)
    outcome = pw.CharField(max_length=16, default=workflow.RUNNING)  # a stage-run state
    error = pw.TextField(null=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        account_id: pw.ForeignKeyField[int]

    class Meta:
        indexes = ((("account", "stage", "attempt"), True),)


class OutboxEmail(BaseModel):
    """One email to send, at most once: the unique (account, purpose) row is the guard."""

    account = pw.ForeignKeyField(CustomerAccount, backref="emails", on_delete="CASCADE")
    purpose = pw.CharField(max_length=64)
    recipient = pw.CharField(max_length=254)
    state = pw.CharField(max_length=16, default="pending")  # pending | sending | sent
    claimed_at = pw.DateTimeField(null=True)
    sent_at = pw.DateTimeField(null=True)
    attempts = pw.IntegerField(default=0)
    last_error = pw.TextField(null=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        account_id: pw.ForeignKeyField[int]

    class Meta:
        indexes = ((("account", "purpose"), True),)


class SetPasswordToken(BaseModel):
    """A one-time set-password link (only its hash): valid until `expires_at`, once."""

    user = pw.ForeignKeyField(User, backref="set_password_tokens", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        user_id: pw.ForeignKeyField[int]


class ApiToken(BaseModel):
    """An organisation's bearer token for the CRM API (only its hash); revoked, it stops working."""

    organisation = pw.ForeignKeyField(Organisation, backref="api_tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=100)
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=16)  # shown in listings so people can tell tokens apart
    created_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]


class IdempotencyKey(BaseModel):
    """The first answer to an API request sent with an Idempotency-Key, replayed to a retry."""

    # Not indexed alone: the unique (organisation, key) index starts with it.
    organisation = pw.ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    key = pw.CharField(max_length=255)
    request_hash = pw.CharField(max_length=64)
    response_status = pw.IntegerField()
    response_body = JSONField()
    account = pw.ForeignKeyField(CustomerAccount, null=True, on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow, index=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]
        account_id: pw.ForeignKeyField[int | None]

    class Meta:
        indexes = ((("organisation", "key"), True),)


class WebhookEndpoint(BaseModel):
    """Where an organisation wants to hear about its accounts. The secret signs each delivery;
    it must be kept in clear to sign with (it is shown to the organisation once)."""

    organisation = pw.ForeignKeyField(Organisation, backref="webhook_endpoints", on_delete="CASCADE")
    url = pw.CharField(max_length=2000)
    secret = pw.CharField(max_length=100)
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]
        deliveries: pw.ModelSelect[WebhookDelivery]


class WebhookDelivery(BaseModel):
    """One event for one endpoint: written in the transaction that changed the account (an
    outbox), delivered in order per endpoint, never again once the receiver said 2xx."""

    delivery_id = pw.UUIDField(unique=True)
    endpoint = pw.ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    account = pw.ForeignKeyField(CustomerAccount, backref="webhook_deliveries", on_delete="CASCADE")
    event = pw.CharField(max_length=64)  # "account.active" | "account.rejected" | "account.failed"
    payload = JSONField()
    state = pw.CharField(max_length=16, default="pending", index=True)  # pending | sending | delivered | cancelled
    attempts = pw.IntegerField(default=0)
    claimed_at = pw.DateTimeField(null=True)
    last_status_code = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    delivered_at = pw.DateTimeField(null=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        endpoint_id: pw.ForeignKeyField[int]
        account_id: pw.ForeignKeyField[int]


class LoginEvent(BaseModel):
    """One login attempt at the web door: who tried (the email typed), from where, and how it
    ended. Kept apart from AuditEvent because an attempt on an unknown email has no organisation."""

    email = pw.CharField(max_length=254, index=True)
    user = pw.ForeignKeyField(User, null=True, backref="login_events", on_delete="CASCADE")
    address = pw.CharField(max_length=64)
    outcome = pw.CharField(max_length=16)  # "success" | "failure" | "throttled" | "locked"
    at = pw.DateTimeField(default=utcnow, index=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        user_id: pw.ForeignKeyField[int | None]


class AuditEvent(BaseModel):
    """Who did what to an organisation or account, and when: kept for people to read."""

    organisation = pw.ForeignKeyField(Organisation, on_delete="CASCADE")
    account = pw.ForeignKeyField(CustomerAccount, null=True, backref="audit_events", on_delete="CASCADE")
    actor = pw.CharField(max_length=254)  # a user's email, "api-token:<name>" or "system"
    action = pw.CharField(max_length=64)
    detail = JSONField(null=True)
    at = pw.DateTimeField(default=utcnow, index=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int]
        account_id: pw.ForeignKeyField[int | None]


# --- after creation: forecasts, optimisations, fixings (rules in shared.optimisations) -----------


class ForecastUpload(BaseModel):
    """One uploaded forecast curve, kept with its date: the newest upload of a (kind, market,
    owner) is the curve in use. `application` curves belong to no organisation (an operator
    loads them), `manager` ones to an organisation, `client` ones to one customer account."""

    kind = pw.CharField(max_length=16, constraints=[pw.Check("kind IN ('application', 'manager', 'client')")])
    market = pw.CharField(max_length=32)
    organisation = pw.ForeignKeyField(Organisation, null=True, backref="forecast_uploads", on_delete="CASCADE")
    account = pw.ForeignKeyField(CustomerAccount, null=True, backref="forecast_uploads", on_delete="CASCADE")
    uploaded_by = pw.CharField(max_length=254)
    uploaded_at = pw.DateTimeField(default=utcnow, index=True)
    months = pw.IntegerField()

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        organisation_id: pw.ForeignKeyField[int | None]
        account_id: pw.ForeignKeyField[int | None]
        prices: pw.ModelSelect[ForecastPrice]

    class Meta:
        indexes = ((("kind", "market", "organisation", "account"), False),)


class ForecastPrice(BaseModel):
    """One month's price of an uploaded forecast curve."""

    upload = pw.ForeignKeyField(ForecastUpload, backref="prices", on_delete="CASCADE")
    month = pw.DateField()  # the first day of the month
    price = pw.DecimalField(max_digits=12, decimal_places=4)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        upload_id: pw.ForeignKeyField[int]

    class Meta:
        indexes = ((("upload", "month"), True),)


class Optimisation(BaseModel):
    """One fixing-advice calendar for one market of an account (see shared.optimisations)."""

    account = pw.ForeignKeyField(CustomerAccount, backref="optimisations", on_delete="CASCADE")
    market = pw.CharField(max_length=32)
    name = pw.CharField(max_length=200)
    delivery_start = pw.DateField()  # first day of the first delivery month
    delivery_end = pw.DateField()  # first day of the last delivery month
    volume_mwh = pw.DecimalField(max_digits=14, decimal_places=3)
    tariff_indexes = JSONField()  # e.g. ["base"] or ["peak", "offpeak"]
    max_fixings = pw.IntegerField()
    min_share_pct = pw.IntegerField()
    window_start = pw.DateField()
    window_end = pw.DateField()
    risk_appetite = pw.CharField(max_length=16)
    forecast = pw.CharField(max_length=16)  # application | manager | client
    notify = pw.BooleanField(default=True)
    notify_recipients = JSONField()  # a subset of ["kam", "customer"]
    created_by = pw.CharField(max_length=254)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        account_id: pw.ForeignKeyField[int]
        fixings: pw.ModelSelect[Fixing]


class Fixing(BaseModel):
    """A fixing the editor recorded: `fixed` (date, price, share) or later `cancelled`."""

    optimisation = pw.ForeignKeyField(Optimisation, backref="fixings", on_delete="CASCADE")
    status = pw.CharField(max_length=16, default="fixed")  # fixed | cancelled
    fixed_on = pw.DateField()
    price = pw.DecimalField(max_digits=12, decimal_places=4)
    share_pct = pw.DecimalField(max_digits=5, decimal_places=2)
    recorded_by = pw.CharField(max_length=254)
    recorded_at = pw.DateTimeField(default=utcnow)
    cancelled_at = pw.DateTimeField(null=True)

    if TYPE_CHECKING:  # made by peewee at class creation (see BaseModel)
        optimisation_id: pw.ForeignKeyField[int]


class MaintenanceRun(BaseModel):
    """One run of the daily maintenance: the unique day makes a second run that day a no-op."""

    day = pw.DateField(unique=True)
    started_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)
    summary = JSONField(null=True)  # what it did: {"windows_closed": n, "trials_ended": n, ...}


ALL_MODELS = [
    Organisation,
    OrganisationMarket,
    User,
    CustomerAccount,
    AccountCount,
    MarketAccess,
    StageRun,
    StageAttempt,
    OutboxEmail,
    SetPasswordToken,
    ApiToken,
    IdempotencyKey,
    WebhookEndpoint,
    WebhookDelivery,
    AuditEvent,
    ForecastUpload,
    ForecastPrice,
    Optimisation,
    Fixing,
    LoginEvent,
    MaintenanceRun,
]
