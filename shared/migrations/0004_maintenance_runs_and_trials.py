"""The daily maintenance's runs (one row a day), when a market access was closed and when a demo
trial ended: what the workers' scheduler needs to do each thing once."""

from peewee import *


def up(migrator, db):
    class MaintenanceRun(Model):
        day = DateField(unique=True)
        started_at = DateTimeField()  # the model fills it (utcnow): no database default
        finished_at = DateTimeField(null=True)
        summary = TextField(null=True)  # JSON

        class Meta:
            database = db
            table_name = "maintenance_run"

    db.create_tables([MaintenanceRun])

    migrator.migrate(migrator.add_column("customer_account", "trial_ended_at", DateTimeField(null=True)))
    migrator.migrate(migrator.add_column("market_access", "closed_at", DateTimeField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("market_access", "closed_at"))
    migrator.migrate(migrator.drop_column("customer_account", "trial_ended_at"))
    migrator.migrate(migrator.drop_table("maintenance_run"))
