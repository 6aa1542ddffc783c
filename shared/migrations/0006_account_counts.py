"""The lists' totals kept as counts per (organisation, KAM, status), by triggers on
customer_account, instead of counted over every account in scope on each request."""

from peewee import *

#: Rows per (organisation, KAM, status), by account id: fewer writers waiting on one row lock.
SHARDS = 16
KEY = "organisation_id, kam_id, status, shard"


def up(migrator, db):
    class AccountCount(Model):
        organisation_id = IntegerField()
        kam_id = IntegerField()
        status = CharField(max_length=32)
        shard = SmallIntegerField()
        n = IntegerField()

        class Meta:
            database = db
            table_name = "account_count"
            primary_key = CompositeKey("organisation_id", "kam_id", "status", "shard")

    db.create_tables([AccountCount])
    if isinstance(db, PostgresqlDatabase):
        _postgres_triggers(db)
    else:
        _sqlite_triggers(db)
    # Created in this transaction with the triggers: on PostgreSQL CREATE TRIGGER holds writers
    # to customer_account off until the commit, so no write falls between the count and them.
    db.execute_sql(
        f"INSERT INTO account_count ({KEY}, n) SELECT organisation_id, kam_id, status, id {_modulo(db)} {SHARDS}, COUNT(*) "
        f"FROM customer_account GROUP BY organisation_id, kam_id, status, id {_modulo(db)} {SHARDS}"
    )


def _modulo(db) -> str:
    """The % operator as written in a statement: psycopg2 reads a lone % as a parameter."""
    return "%%" if isinstance(db, PostgresqlDatabase) else "%"


def _add(row: str, delta: str, modulo: str) -> str:
    """One statement adding `delta` to the count of the account `row` (new or old)."""
    return (
        f"INSERT INTO account_count ({KEY}, n) "
        f"VALUES ({row}.organisation_id, {row}.kam_id, {row}.status, {row}.id {modulo} {SHARDS}, {delta}) "
        f"ON CONFLICT ({KEY}) DO UPDATE SET n = account_count.n + excluded.n"
    )


def _sqlite_triggers(db):
    modulo = _modulo(db)
    db.execute_sql(
        f"CREATE TRIGGER account_count_insert AFTER INSERT ON customer_account BEGIN {_add('new', '1', modulo)}; END"
    )
    db.execute_sql(
        f"CREATE TRIGGER account_count_delete AFTER DELETE ON customer_account BEGIN {_add('old', '-1', modulo)}; END"
    )
    db.execute_sql(
        "CREATE TRIGGER account_count_update AFTER UPDATE OF organisation_id, kam_id, status ON customer_account "
        "WHEN old.organisation_id IS NOT new.organisation_id OR old.kam_id IS NOT new.kam_id "
        f"OR old.status IS NOT new.status BEGIN {_add('old', '-1', modulo)}; {_add('new', '1', modulo)}; END"
    )


def _postgres_triggers(db):
    modulo = _modulo(db)
    # A move locks two count rows: always in the order of their statuses, so two moves between
    # the same two statuses in opposite directions wait for each other instead of deadlocking.
    db.execute_sql(
        f"""CREATE FUNCTION account_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_add("NEW", "1", modulo)};
            ELSIF TG_OP = 'DELETE' THEN
                {_add("OLD", "-1", modulo)};
            ELSIF (OLD.organisation_id, OLD.kam_id, OLD.status) < (NEW.organisation_id, NEW.kam_id, NEW.status) THEN
                {_add("OLD", "-1", modulo)};
                {_add("NEW", "1", modulo)};
            ELSE
                {_add("NEW", "1", modulo)};
                {_add("OLD", "-1", modulo)};
            END IF;
            RETURN NULL;
        END $$"""
    )
    db.execute_sql(
        "CREATE TRIGGER account_count_write AFTER INSERT OR DELETE ON customer_account "
        "FOR EACH ROW EXECUTE FUNCTION account_count_change()"
    )
    db.execute_sql(
        "CREATE TRIGGER account_count_move AFTER UPDATE OF organisation_id, kam_id, status ON customer_account "
        "FOR EACH ROW WHEN ((OLD.organisation_id, OLD.kam_id, OLD.status) IS DISTINCT FROM "
        "(NEW.organisation_id, NEW.kam_id, NEW.status)) EXECUTE FUNCTION account_count_change()"
    )


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP TRIGGER IF EXISTS account_count_write ON customer_account")
        db.execute_sql("DROP TRIGGER IF EXISTS account_count_move ON customer_account")
        db.execute_sql("DROP FUNCTION IF EXISTS account_count_change()")
    else:
        for trigger in ("insert", "delete", "update"):
            db.execute_sql(f"DROP TRIGGER IF EXISTS account_count_{trigger}")
    db.execute_sql("DROP TABLE IF EXISTS account_count")
