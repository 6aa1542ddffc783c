"""The operator's view of login throttling: `kamflow login-locks`, `kamflow unlock-login`,
`kamflow login-events` (the audit of login attempts)."""

from __future__ import annotations

import click
import redis

from kamflow.command_context import LIMIT, bind_database, command_settings, fail
from shared import client_address, db, schemas
from shared.config import Settings
from shared.login_throttle import LoginThrottle


def _throttle(settings: Settings) -> LoginThrottle:
    if not settings.redis_url:
        fail("set REDIS_URL to the Redis the gateway uses")
    return LoginThrottle(redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=5), settings)


@click.command("login-locks")
def login_locks():
    """Accounts and client addresses locked after too many failed logins."""
    throttle = _throttle(command_settings())
    try:
        locks = throttle.locks()
    except redis.RedisError as error:
        fail(f"Redis unreachable: {error}")
    if not locks:
        click.echo("no login is locked")
    for lock in locks:
        click.echo(
            f"{lock.kind:<8} {lock.who:<40} locked for {lock.seconds_left // 60}m{lock.seconds_left % 60:02d}s more"
        )


@click.command("unlock-login")
@click.argument("who")
def unlock_login(who):
    """Lift the lock of an account (its email) or a client address (as login-locks shows it)."""
    throttle = _throttle(command_settings())
    who = schemas.login_email(who)  # an email as the login page reads it; an address only trimmed, lower case
    try:
        lifted = throttle.unlock(who) or throttle.unlock(client_address.counted_as(who))  # an IPv6 address: its /64
    except redis.RedisError as error:
        fail(f"Redis unreachable, nothing unlocked: {error}")
    if not lifted:
        fail(f"{who} is not locked")
    click.echo(f"lock on {who} lifted")


@click.command("login-events")
@click.option("--email", help="Only attempts on this login")
@click.option("--limit", type=LIMIT, default=50, show_default=True, help="How many of the newest to show")
def login_events(email, limit):
    """The newest login attempts: when, which login, from where, and how they ended."""
    from shared.models import LoginEvent

    bind_database()
    with db.database.connection_context():
        query = LoginEvent.select().order_by(LoginEvent.id.desc()).limit(limit)
        if email:
            query = query.where(LoginEvent.email == schemas.login_email(email))
        for event in query:
            click.echo(f"{event.at:%Y-%m-%d %H:%M:%S}  {event.outcome:<10} {event.email:<40} from {event.address}")


def register(group: click.Group) -> None:
    for command in (login_locks, unlock_login, login_events):
        group.add_command(command)
