"""The bench's own databases: an SQLite file in its temp dir, and, when BENCH_POSTGRES_URL is
set, a dedicated PostgreSQL database created for the run and dropped after it.

Never the `test` database (the test suite drops its schema) nor any existing one: the name is
new for every run.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import urllib.parse
from pathlib import Path

PROTECTED = {"test", "postgres", "template0", "template1"}


@contextlib.contextmanager
def sqlite(directory: Path):
    yield f"sqlite:///{directory / 'bench.db'}"


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def check_server(server_url: str) -> None:
    """Raise ValueError, saying why, unless `server_url` is a postgresql:// URL whose server
    takes a connection and lets it create a database: checked before a run starts, so that a
    wrong BENCH_POSTGRES_URL is said at once, not after the SQLite rounds' minutes."""
    import psycopg2

    if urllib.parse.urlsplit(server_url).scheme not in ("postgres", "postgresql"):
        raise ValueError(f"BENCH_POSTGRES_URL must be a postgresql:// URL, not {_without_password(server_url)!r}")
    try:
        admin = psycopg2.connect(_maintenance(server_url), connect_timeout=5)
    except psycopg2.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"BENCH_POSTGRES_URL: cannot connect to {_without_password(server_url)}: {reason}") from None
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
    finally:
        admin.close()
    if not (row and row[0]):
        raise ValueError(f"BENCH_POSTGRES_URL: its user may not create databases ({_without_password(server_url)})")


def require_server(server_url: str) -> None:
    """`check_server`, for a command's start: a refused URL ends the command (exit 1) with why."""
    try:
        check_server(server_url)
    except ValueError as error:
        sys.exit(f"bench: {error}")


def _maintenance(server_url: str) -> str:
    """The URL of the database to connect to for creating the run's: the one named, or `postgres`."""
    path = urllib.parse.urlsplit(server_url).path.strip("/")
    return _with_database(server_url, path or "postgres")


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


@contextlib.contextmanager
def postgres(server_url: str):
    """Create `kamflow_bench_<random>` on the server of `server_url`, yield its URL, drop it."""
    import psycopg2

    name = f"kamflow_bench_{secrets.token_hex(4)}"
    assert name not in PROTECTED
    admin = psycopg2.connect(_maintenance(server_url))
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
