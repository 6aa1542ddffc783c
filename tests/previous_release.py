"""A database as the last release before versioned migrations (71f2648) left it, with data in
it: accounts in every status, tokens (one revoked), a webhook with deliveries. Loaded from the
dump that `fixtures/previous_release/generate.py` made by running that release for real."""

from __future__ import annotations

import json
from pathlib import Path

from shared import db

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "previous_release"


def load(database_url: str) -> dict:
    """Create that release's tables in the (empty) database at `database_url`, with its rows;
    return the dump (its API token, the account id per status, ...)."""
    engine = "postgresql" if database_url.startswith("postgres") else "sqlite"
    dump = json.loads((FIXTURES / f"{engine}.json").read_text())
    database = db.open_database(database_url)
    try:
        with database.connection_context(), database.atomic():
            for statement in dump["ddl"]:
                database.execute_sql(statement)
            for table, content in dump["tables"].items():
                if not content["rows"]:
                    continue
                columns = ", ".join(f'"{c}"' for c in content["columns"])
                marks = ", ".join([database.param] * len(content["columns"]))
                for row in content["rows"]:
                    database.execute_sql(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', row)
                if engine == "postgresql":  # as the release's own inserts would have left them
                    database.execute_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
                    )
    finally:
        if hasattr(database, "close_all"):
            database.close_all()
        else:
            database.close()
    return dump
