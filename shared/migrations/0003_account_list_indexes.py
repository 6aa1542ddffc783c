"""The account lists' indexes (newest first per organisation, per KAM, by status): a model
change that landed before its migration."""

from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.add_index("customer_account", ("organisation_id", "created_at")))
    migrator.migrate(migrator.add_index("customer_account", ("organisation_id", "kam_id", "created_at")))
    migrator.migrate(migrator.add_index("customer_account", ("organisation_id", "status")))


def down(migrator, db):
    migrator.migrate(migrator.drop_index("customer_account", "customer_account_organisation_id_status"))
    migrator.migrate(migrator.drop_index("customer_account", "customer_account_organisation_id_kam_id_created_at"))
    migrator.migrate(migrator.drop_index("customer_account", "customer_account_organisation_id_created_at"))
