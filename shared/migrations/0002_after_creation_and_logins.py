"""Optimisations after creation (issue 11), login events and server-side sessions (issue 9).

Their model changes landed before versioned migrations did; this file brings a database of the
baseline to them. The manager forecasts of the baseline's `manager_forecast` become one
`manager` upload per organisation and market, so "manager forecast available" still holds after
the upgrade. `manager_forecast` itself stays (the previous release reads it while it rolls out);
a later migration drops it.
"""

import datetime

from peewee import *


def up(migrator, db):
    class CustomerAccount(Model):
        class Meta:
            database = db
            table_name = "customer_account"

    class Organisation(Model):
        class Meta:
            database = db
            table_name = "organisation"

    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Optimisation(Model):
        account = ForeignKeyField(CustomerAccount, on_delete="CASCADE")
        market = CharField(max_length=32)
        name = CharField(max_length=200)
        delivery_start = DateField()
        delivery_end = DateField()
        volume_mwh = DecimalField(max_digits=14, decimal_places=3)
        tariff_indexes = TextField()
        max_fixings = IntegerField()
        min_share_pct = IntegerField()
        window_start = DateField()
        window_end = DateField()
        risk_appetite = CharField(max_length=16)
        forecast = CharField(max_length=16)
        notify = BooleanField(default=True)
        notify_recipients = TextField()
        created_by = CharField(max_length=254)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "optimisation"

    db.create_tables([Optimisation])

    class Fixing(Model):
        optimisation = ForeignKeyField(Optimisation, on_delete="CASCADE")
        status = CharField(max_length=16, default="fixed")
        fixed_on = DateField()
        price = DecimalField(max_digits=12, decimal_places=4)
        share_pct = DecimalField(max_digits=5, decimal_places=2)
        recorded_by = CharField(max_length=254)
        recorded_at = DateTimeField()
        cancelled_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "fixing"

    db.create_tables([Fixing])

    class ForecastUpload(Model):
        kind = CharField(max_length=16, constraints=[Check("kind IN ('application', 'manager', 'client')")])
        market = CharField(max_length=32)
        organisation = ForeignKeyField(Organisation, null=True, on_delete="CASCADE")
        account = ForeignKeyField(CustomerAccount, null=True, on_delete="CASCADE")
        uploaded_by = CharField(max_length=254)
        uploaded_at = DateTimeField(index=True)
        months = IntegerField()

        class Meta:
            database = db
            table_name = "forecast_upload"
            indexes = ((("kind", "market", "organisation", "account"), False),)

    db.create_tables([ForecastUpload])

    class ForecastPrice(Model):
        upload = ForeignKeyField(ForecastUpload, on_delete="CASCADE")
        month = DateField()
        price = DecimalField(max_digits=12, decimal_places=4)

        class Meta:
            database = db
            table_name = "forecast_price"
            indexes = ((("upload", "month"), True),)

    db.create_tables([ForecastPrice])

    class LoginEvent(Model):
        email = CharField(index=True, max_length=254)
        user = ForeignKeyField(User, null=True, on_delete="CASCADE")
        address = CharField(max_length=64)
        outcome = CharField(max_length=16)
        at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "login_event"

    db.create_tables([LoginEvent])

    migrator.migrate(migrator.add_column("user", "session_version", IntegerField(default=0)))

    class ManagerForecast(Model):  # the baseline's, read once here
        organisation = ForeignKeyField(Organisation)
        market = CharField(max_length=32)
        period = DateField()
        price = DecimalField(max_digits=12, decimal_places=4)

        class Meta:
            database = db
            table_name = "manager_forecast"

    curves = {}  # (organisation, market) -> {first day of month: price}, the latest period of a month wins
    for row in ManagerForecast.select().order_by(ManagerForecast.period):
        curves.setdefault((row.organisation_id, row.market), {})[row.period.replace(day=1)] = row.price
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    for (organisation_id, market), curve in sorted(curves.items()):
        upload = ForecastUpload.create(
            kind="manager",
            market=market,
            organisation=organisation_id,
            uploaded_by="kamflow migrate (from manager_forecast)",
            uploaded_at=now,
            months=len(curve),
        )
        ForecastPrice.insert_many(
            [{"upload": upload.id, "month": month, "price": price} for month, price in sorted(curve.items())]
        ).execute()


def down(migrator, db):
    migrator.migrate(migrator.drop_column("user", "session_version"))
    migrator.migrate(migrator.drop_table("login_event"))
    migrator.migrate(migrator.drop_table("forecast_price"))
    migrator.migrate(migrator.drop_table("forecast_upload"))
    migrator.migrate(migrator.drop_table("fixing"))
    migrator.migrate(migrator.drop_table("optimisation"))
