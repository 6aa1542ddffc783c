"""PostgreSQL: the search's trigram index moves from `customer_account` to a table of its own
beside it, `customer_account_search` (the searched columns by account id), kept in step by
triggers, as SQLite's FTS5 table is.

An UPDATE that changes an indexed column makes a new entry in every index of the table, and
every stage of the workflow changes the account's status and `updated_at` (both indexed): each
status move made its hundred-odd trigram entries again in the GIN index, for text that had not
changed, a third of the move's time on the server (0.65-0.81 -> 0.45-0.49 ms a move, bench drains) and
the pending list's merges besides. The searched columns change only when a customer's details
do; the table beside the accounts is written then, and when an account is made or deleted.

The search reads the candidates from it and decides on the accounts' own columns, as on SQLite
(`shared.visibility.search`). Processes of the previous release, still searching the accounts'
columns during a rolling upgrade, find the same matches, read without the index.
"""

from peewee import *

#: The searched columns, in the order of shared.visibility.SEARCHED (0005's).
COLUMNS = ("company", "customer_reference", "last_name", "first_name", "email")
TABLE = "customer_account_search"
INDEX = "customer_account_search_trigrams"


def up(migrator, db):
    if not isinstance(db, PostgresqlDatabase):
        return  # SQLite's FTS5 table (0005) is beside the accounts already
    columns = ", ".join(COLUMNS)
    new = ", ".join(f"NEW.{column}" for column in COLUMNS)
    changed = ", ".join(f"{column} = NEW.{column}" for column in COLUMNS)
    db.execute_sql("DROP INDEX IF EXISTS customer_account_search")  # 0005's: the name is the table's now
    db.execute_sql(
        f"CREATE TABLE {TABLE} (account_id INTEGER PRIMARY KEY, company VARCHAR(200) NOT NULL, "
        "customer_reference VARCHAR(64), last_name VARCHAR(100) NOT NULL, first_name VARCHAR(100) NOT NULL, "
        "email VARCHAR(254) NOT NULL)"
    )
    # Triggers, not a foreign key: a foreign key would check the account on every write.
    db.execute_sql(
        f"""CREATE FUNCTION customer_account_search_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO {TABLE} (account_id, {columns}) VALUES (NEW.id, {new});
            ELSIF TG_OP = 'UPDATE' THEN
                UPDATE {TABLE} SET {changed} WHERE account_id = NEW.id;
            ELSE
                DELETE FROM {TABLE} WHERE account_id = OLD.id;
            END IF;
            RETURN NULL;
        END $$"""
    )
    db.execute_sql(
        "CREATE TRIGGER customer_account_search_write AFTER INSERT OR DELETE ON customer_account "
        "FOR EACH ROW EXECUTE FUNCTION customer_account_search_change()"
    )
    old = ", ".join(f"OLD.{column}" for column in COLUMNS)
    db.execute_sql(
        f"CREATE TRIGGER customer_account_search_update AFTER UPDATE OF {columns} ON customer_account "
        f"FOR EACH ROW WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION customer_account_search_change()"
    )
    # Filled in this transaction with the triggers: no account is written between the two.
    db.execute_sql(f"INSERT INTO {TABLE} (account_id, {columns}) SELECT id, {columns} FROM customer_account")
    operators = ", ".join(f"{column} gin_trgm_ops" for column in COLUMNS)
    db.execute_sql(f"CREATE INDEX {INDEX} ON {TABLE} USING gin ({operators}) WITH (gin_pending_list_limit = 256)")


def down(migrator, db):
    if not isinstance(db, PostgresqlDatabase):
        return
    db.execute_sql("DROP TRIGGER IF EXISTS customer_account_search_write ON customer_account")
    db.execute_sql("DROP TRIGGER IF EXISTS customer_account_search_update ON customer_account")
    db.execute_sql("DROP FUNCTION IF EXISTS customer_account_search_change()")
    db.execute_sql(f"DROP TABLE IF EXISTS {TABLE}")
    operators = ", ".join(f"{column} gin_trgm_ops" for column in COLUMNS)
    db.execute_sql(f"CREATE INDEX customer_account_search ON customer_account USING gin ({operators})")
    db.execute_sql("ALTER INDEX customer_account_search SET (gin_pending_list_limit = 256)")
