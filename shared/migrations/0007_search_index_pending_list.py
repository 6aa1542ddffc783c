"""PostgreSQL: the search's GIN index keeps a short pending list (256 kB, not the server's 4 MB),
so the planner keeps using it after a burst of new accounts instead of reading every account
until autovacuum merges the list."""

from peewee import *


def up(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("ALTER INDEX customer_account_search SET (gin_pending_list_limit = 256)")


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("ALTER INDEX customer_account_search RESET (gin_pending_list_limit)")
