"""The Customers page's search served by a trigram index, so it no longer reads every account in
scope: a GIN `pg_trgm` index over the five searched columns on PostgreSQL, an FTS5 table with the
trigram tokenizer (SQLite >= 3.34), kept in step by triggers, on SQLite.

Neither is declared by the models (each database has its own kind); `shared.visibility.search`
uses them and the migration test checks they exist. On PostgreSQL `CREATE EXTENSION pg_trgm`
needs a role allowed to create it (a trusted extension since PostgreSQL 13: the database's owner
may; a managed service must allow it).
"""

from peewee import *

#: The searched columns, in the order of shared.visibility.SEARCHED.
COLUMNS = ("company", "customer_reference", "last_name", "first_name", "email")


def up(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        operators = ", ".join(f"{column} gin_trgm_ops" for column in COLUMNS)
        db.execute_sql(f"CREATE INDEX customer_account_search ON customer_account USING gin ({operators})")
        return
    columns = ", ".join(COLUMNS)
    new = ", ".join(f"new.{column}" for column in COLUMNS)
    old = ", ".join(f"old.{column}" for column in COLUMNS)
    db.execute_sql(
        f"CREATE VIRTUAL TABLE customer_account_search USING fts5({columns}, "
        "content='customer_account', content_rowid='id', tokenize='trigram')"
    )
    # External content: the table holds only the index; the triggers keep it in step with every
    # write (the bulk ones too), in the writer's own transaction.
    db.execute_sql(
        "CREATE TRIGGER customer_account_search_insert AFTER INSERT ON customer_account BEGIN "
        f"INSERT INTO customer_account_search (rowid, {columns}) VALUES (new.id, {new}); END"
    )
    db.execute_sql(
        "CREATE TRIGGER customer_account_search_delete AFTER DELETE ON customer_account BEGIN "
        f"INSERT INTO customer_account_search (customer_account_search, rowid, {columns}) "
        f"VALUES ('delete', old.id, {old}); END"
    )
    db.execute_sql(
        f"CREATE TRIGGER customer_account_search_update AFTER UPDATE OF {columns} ON customer_account BEGIN "
        f"INSERT INTO customer_account_search (customer_account_search, rowid, {columns}) "
        f"VALUES ('delete', old.id, {old}); "
        f"INSERT INTO customer_account_search (rowid, {columns}) VALUES (new.id, {new}); END"
    )
    db.execute_sql("INSERT INTO customer_account_search (customer_account_search) VALUES ('rebuild')")


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP INDEX IF EXISTS customer_account_search")
        return  # pg_trgm stays: other objects may use it
    for trigger in ("insert", "delete", "update"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS customer_account_search_{trigger}")
    db.execute_sql("DROP TABLE IF EXISTS customer_account_search")
