"""What every `kamflow` command starts from: the settings and the database of the environment
it runs in, a way to stop with a clear message, and the organisation a command names."""

from __future__ import annotations

import sys

import click

from shared import db
from shared.config import Settings


def bind_database() -> Settings:
    settings = Settings.from_env()
    db.bind(settings.database_url)
    return settings


def fail(message: str):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def organisation_named(slug: str):
    """The organisation with `slug`, or stop with the reason."""
    from shared import organisations

    try:
        return organisations.get_organisation(slug)
    except organisations.SetupError as error:
        fail(str(error))
