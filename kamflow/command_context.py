"""What every `kamflow` command starts from: the settings and the database of the environment
it runs in (completed by what a running `make run` recorded in var/), a way to stop with a clear
message (also when Redis or the database fails while a command runs: `Commands`), and the
organisation a command names."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import peewee
import redis

from shared import db
from shared.config import Settings, SettingsError
from shared.logging_setup import redact

#: An account id on a command line: a number beyond what the database holds is refused by click
#: ("not in the range"), where it would be an overflow traceback from the driver.
ACCOUNT_ID = click.IntRange(1, db.MAX_ID)
#: `--limit` of a listing: at least one line (0 or less listed nothing, or everything on SQLite).
LIMIT = click.IntRange(1, 100_000)


def command_settings() -> Settings:
    """The settings every command runs with: the environment's, completed by a running
    `make run`'s record (its Redis, mail catcher and database); a wrong one stops the command
    with the variable and the reason."""
    try:
        return Settings.from_env_or_run()
    except SettingsError as error:
        fail(f"a setting is wrong: {error}")


def bind_database(*, migrating: bool = False) -> Settings:
    """Bind the database of DATABASE_URL. Except to migrate, it must exist and be migrated:
    run elsewhere, a command would otherwise create an empty SQLite file and crash."""
    settings = command_settings()
    url = settings.database_url
    if not migrating and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        fail(f"no database at {url}: set DATABASE_URL, or run `kamflow migrate` to create it")
    try:
        db.bind(url)
        # A server that is down, a wrong host, role or database name: said here, in one line,
        # rather than as the driver's traceback from the command's first query.
        db.database.connect(reuse_if_open=True)
        db.database.close()
    except (peewee.DatabaseError, OSError) as error:
        fail(f"cannot reach the database at {redact(url)}: {reason(error)}")
    if not migrating:
        from shared import migrations

        missing = migrations.pending(db.database)
        if missing:
            fail(
                f"the database at {redact(url)} is behind: {len(missing)} migration(s) pending "
                f"({', '.join(missing)}): run `kamflow migrate` first"
            )
    return settings


def fail(message: str):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def reason(error: BaseException) -> str:
    """An error of Redis or of the database driver in one line, any password in it redacted."""
    return redact((str(error).strip() or type(error).__name__).splitlines()[0])


class Commands(click.Group):
    """The `kamflow` group. Redis or the database failing while a command runs (the server
    restarted or killed, the connection dropped, after the command found it up) ends the
    command as one that finds it down at start does: one line saying what failed, during which
    command and why, and exit 1 (`fail`), never the driver's traceback. A command that acts on
    several things prints what it did before the failure first."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except redis.RedisError as error:
            fail(f"Redis failed during `kamflow {ctx.invoked_subcommand}`: {reason(error)}")
        except (peewee.OperationalError, peewee.InterfaceError) as error:
            fail(f"the database failed during `kamflow {ctx.invoked_subcommand}`: {reason(error)}")


def organisation_named(slug: str):
    """The organisation with `slug`, or stop with the reason."""
    from shared import organisations

    try:
        return organisations.get_organisation(slug)
    except organisations.SetupError as error:
        fail(str(error))
