"""The bench's own databases: an SQLite file in its temp dir, and, when BENCH_POSTGRES_URL is
set, a dedicated PostgreSQL database created for the run and dropped after it.

Never the `test` database (the test suite drops its schema) nor any existing one: the name is
new for every run.
"""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from pathlib import Path

PROTECTED = {"test", "postgres", "template0", "template1"}


@contextlib.contextmanager
def sqlite(directory: Path):
    yield f"sqlite:///{directory / 'bench.db'}"


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def postgres(server_url: str):
    """Create `kamflow_bench_<random>` on the server of `server_url`, yield its URL, drop it."""
    import psycopg2

    name = f"kamflow_bench_{secrets.token_hex(4)}"
    assert name not in PROTECTED
    path = urllib.parse.urlsplit(server_url).path.strip("/")
    maintenance = _with_database(server_url, path or "postgres")
    admin = psycopg2.connect(maintenance)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(server_url, name)
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
