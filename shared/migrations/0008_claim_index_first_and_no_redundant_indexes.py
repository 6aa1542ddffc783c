"""The reference's unique claim indexed reference first, and three indexes dropped that another
index of the same table already serves (its leading column).

Given `organisation_id = ? AND reference_claim = ?` (every POST asks whether its reference is
free), PostgreSQL without statistics on the accounts yet (a new database, or a burst of new
accounts before autovacuum analyses them) costs every index starting with organisation_id the
same as the unique one, and took a lists' index: it read every account of the organisation, on
each POST. Reference first, no other index can answer that condition as well.

Each dropped index was one more page written by every new account (SQLite) and one more index
entry to make (both), for lookups the remaining index makes as well. customer_account's own
organisation_id index stays: on SQLite it is (organisation_id, id), the API list's order."""

from peewee import *

#: (table, columns, unique) of the indexes dropped; each is served by the index that follows it
#: in a comment. Found by their columns: their names depend on the release that made the table.
DROPPED = (
    ("customer_account", ["organisation_id", "reference_claim"], True),  # (reference_claim, organisation_id)
    ("market_access", ["account_id"], False),  # unique (account_id, market)
    ("stage_run", ["account_id"], False),  # unique (account_id, stage)
    ("idempotency_key", ["organisation_id"], False),  # unique (organisation_id, key)
)


def up(migrator, db):
    migrator.migrate(migrator.add_index("customer_account", ("reference_claim", "organisation_id"), unique=True))
    for table, columns, unique in DROPPED:
        for index in db.get_indexes(table):
            if list(index.columns) == columns and bool(index.unique) == unique:
                migrator.migrate(migrator.drop_index(table, index.name))


def down(migrator, db):
    for table, columns, unique in DROPPED:
        migrator.migrate(migrator.add_index(table, tuple(columns), unique=unique))
    migrator.migrate(migrator.drop_index("customer_account", "customer_account_reference_claim_organisation_id"))
