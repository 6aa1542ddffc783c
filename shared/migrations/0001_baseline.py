"""Baseline: the schema of the last release without versioned migrations (commit 71f2648).

A database made by that release (`create_tables`) already has these tables: `kamflow migrate`
records this migration as applied there without running it. Frozen on purpose: the classes
below are copies, not the application's models, so this file means the same thing forever.
JSON columns are TEXT (the application's JSONField stores text).
"""

from peewee import *


def up(migrator, db):
    class Organisation(Model):
        slug = CharField(unique=True, max_length=64)
        name = CharField(max_length=200)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "organisation"

    db.create_tables([Organisation])

    class ApiToken(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        name = CharField(max_length=100)
        token_hash = CharField(unique=True, max_length=64)
        prefix = CharField(max_length=16)
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "api_token"

    db.create_tables([ApiToken])

    class User(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        email = CharField(unique=True, max_length=254)
        role = CharField(max_length=16, constraints=[Check("role IN ('manager', 'kam', 'customer', 'operator')")])
        first_name = CharField(max_length=100, default="")
        last_name = CharField(max_length=100, default="")
        password_hash = CharField(null=True)
        active = BooleanField(default=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "user"

    db.create_tables([User])

    class CustomerAccount(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        kam = ForeignKeyField(User)
        company = CharField(max_length=200)
        customer_reference = CharField(null=True, max_length=64)
        last_name = CharField(max_length=100)
        first_name = CharField(max_length=100)
        phone = CharField(max_length=32)
        email = CharField(max_length=254)
        is_demo = BooleanField()
        app_access = BooleanField()
        editor = CharField(null=True, max_length=16)
        user = ForeignKeyField(User, unique=True, null=True)
        status = CharField(index=True, max_length=32, default="pending")
        rejection_reasons = TextField(null=True)
        email_claim = CharField(unique=True, null=True, max_length=254)
        reference_claim = CharField(null=True, max_length=64)
        created_at = DateTimeField()
        updated_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "customer_account"
            indexes = ((("organisation", "reference_claim"), True),)

    db.create_tables([CustomerAccount])

    class AuditEvent(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        account = ForeignKeyField(CustomerAccount, null=True, on_delete="CASCADE")
        actor = CharField(max_length=254)
        action = CharField(max_length=64)
        detail = TextField(null=True)
        at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "audit_event"

    db.create_tables([AuditEvent])

    class IdempotencyKey(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        key = CharField()
        request_hash = CharField(max_length=64)
        response_status = IntegerField()
        response_body = TextField()
        account = ForeignKeyField(CustomerAccount, null=True, on_delete="CASCADE")
        created_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "idempotency_key"
            indexes = ((("organisation", "key"), True),)

    db.create_tables([IdempotencyKey])

    class ManagerForecast(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        market = CharField(max_length=32)
        period = DateField()
        price = DecimalField(max_digits=12, decimal_places=4)

        class Meta:
            database = db
            table_name = "manager_forecast"
            indexes = ((("organisation", "market", "period"), True),)

    db.create_tables([ManagerForecast])

    class MarketAccess(Model):
        account = ForeignKeyField(CustomerAccount, on_delete="CASCADE")
        market = CharField(max_length=32)
        start_date = DateField()
        end_date = DateField()
        forecasts = TextField()
        max_optimisations = IntegerField(constraints=[Check("max_optimisations >= 1")])
        activated_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "market_access"
            indexes = ((("account", "market"), True),)

    db.create_tables([MarketAccess])

    class OrganisationMarket(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        market = CharField(max_length=32)

        class Meta:
            database = db
            table_name = "organisation_market"
            indexes = ((("organisation", "market"), True),)

    db.create_tables([OrganisationMarket])

    class OutboxEmail(Model):
        account = ForeignKeyField(CustomerAccount, on_delete="CASCADE")
        purpose = CharField(max_length=64)
        recipient = CharField(max_length=254)
        state = CharField(max_length=16, default="pending")
        claimed_at = DateTimeField(null=True)
        sent_at = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        last_error = TextField(null=True)

        class Meta:
            database = db
            table_name = "outbox_email"
            indexes = ((("account", "purpose"), True),)

    db.create_tables([OutboxEmail])

    class SetPasswordToken(Model):
        user = ForeignKeyField(User, on_delete="CASCADE")
        token_hash = CharField(unique=True, max_length=64)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "set_password_token"

    db.create_tables([SetPasswordToken])

    class StageAttempt(Model):
        account = ForeignKeyField(CustomerAccount, on_delete="CASCADE")
        stage = CharField(max_length=32)
        attempt = IntegerField()
        worker = CharField(null=True, max_length=128)
        started_at = DateTimeField(index=True)
        finished_at = DateTimeField(index=True, null=True)
        outcome = CharField(max_length=16, default="running")
        error = TextField(null=True)

        class Meta:
            database = db
            table_name = "stage_attempt"
            indexes = ((("account", "stage", "attempt"), True),)

    db.create_tables([StageAttempt])

    class StageRun(Model):
        account = ForeignKeyField(CustomerAccount, on_delete="CASCADE")
        stage = CharField(max_length=32)
        state = CharField(max_length=16, default="waiting")
        attempts = IntegerField(default=0)
        started_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)
        error = TextField(null=True)
        worker = CharField(null=True, max_length=128)

        class Meta:
            database = db
            table_name = "stage_run"
            indexes = ((("account", "stage"), True),)

    db.create_tables([StageRun])

    class WebhookEndpoint(Model):
        organisation = ForeignKeyField(Organisation, on_delete="CASCADE")
        url = CharField(max_length=2000)
        secret = CharField(max_length=100)
        active = BooleanField(default=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "webhook_endpoint"

    db.create_tables([WebhookEndpoint])

    class WebhookDelivery(Model):
        delivery_id = UUIDField(unique=True)
        endpoint = ForeignKeyField(WebhookEndpoint, on_delete="CASCADE")
        account = ForeignKeyField(CustomerAccount, on_delete="CASCADE")
        event = CharField(max_length=64)
        payload = TextField()
        state = CharField(index=True, max_length=16, default="pending")
        attempts = IntegerField(default=0)
        claimed_at = DateTimeField(null=True)
        last_status_code = IntegerField(null=True)
        last_error = TextField(null=True)
        created_at = DateTimeField()
        delivered_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "webhook_delivery"

    db.create_tables([WebhookDelivery])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("webhook_delivery"))
    migrator.migrate(migrator.drop_table("webhook_endpoint"))
    migrator.migrate(migrator.drop_table("stage_run"))
    migrator.migrate(migrator.drop_table("stage_attempt"))
    migrator.migrate(migrator.drop_table("set_password_token"))
    migrator.migrate(migrator.drop_table("outbox_email"))
    migrator.migrate(migrator.drop_table("organisation_market"))
    migrator.migrate(migrator.drop_table("market_access"))
    migrator.migrate(migrator.drop_table("manager_forecast"))
    migrator.migrate(migrator.drop_table("idempotency_key"))
    migrator.migrate(migrator.drop_table("audit_event"))
    migrator.migrate(migrator.drop_table("customer_account"))
    migrator.migrate(migrator.drop_table("user"))
    migrator.migrate(migrator.drop_table("api_token"))
    migrator.migrate(migrator.drop_table("organisation"))
