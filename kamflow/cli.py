"""`kamflow`: administer organisations and tokens, watch and retry the workflow, run locally."""

from __future__ import annotations

import click

from kamflow.command_context import LIMIT, Commands, bind_database, fail, organisation_named
from shared import db, permissions
from shared.logging_setup import redact


@click.group(cls=Commands)
def main():
    """kamflow: customer-account creation for KAMs of energy suppliers."""


@main.command()
def migrate():
    """Apply the pending schema migrations, and say which."""
    from shared import migrations

    settings = bind_database(migrating=True)
    steps = migrations.migrate()
    if not steps:
        click.echo("nothing to apply")
    for step in steps:
        if step.action == "recorded":
            click.echo(f"{step.name}: recorded as applied (the tables were made before versioned migrations)")
        else:
            click.echo(f"{step.name}: applied")
    shipped = migrations.known()
    click.echo(
        f"database is up to date: {len(shipped)} migration(s), the last {shipped[-1]} ({redact(settings.database_url)})"
    )


@main.command("make-migration")
@click.argument("name")
def make_migration(name):
    """Draft the next migration file from what the models have that the migrations lack."""
    from shared import migrations

    path, differences = migrations.draft(name)
    if path is None:
        click.echo(
            "the migrations already create what the models declare: nothing drafted "
            "(a changed type, null or CHECK is written by hand: docs/migrations.md)"
        )
        return
    click.echo(differences)
    click.echo(f"drafted {path}: read it, fix every TODO, then run `kamflow migrate` and the tests")


@main.command("create-org")
@click.option("--slug", required=True, help="Short stable id, e.g. acme-energy")
@click.option("--name", required=True)
@click.option("--markets", required=True, help="Comma-separated market ids the organisation offers")
def create_org(slug, name, markets):
    """Create an organisation (a supplier) and the markets it offers."""
    from shared import organisations

    bind_database()
    try:
        organisation = organisations.create_organisation(
            slug, name, [m.strip() for m in markets.split(",") if m.strip()]
        )
    except organisations.SetupError as error:
        fail(str(error))
    click.echo(f"organisation {organisation.slug} created")


@main.command("list-orgs")
def list_orgs():
    """The organisations: slug (what --org takes), name, markets, staff and customer accounts."""
    from shared import organisations

    bind_database()
    with db.database.connection_context():
        found = organisations.overview()
    if not found:
        click.echo("no organisation yet: kamflow create-org --slug ... --name ... --markets ...")
        return
    click.echo(f"{'slug':<24}{'name':<28}{'staff':>6}{'accounts':>10}  markets")
    for org in found:
        click.echo(
            f"{org['slug']:<24}{org['name'][:27]:<28}{org['staff']:>6}{org['accounts']:>10}  {','.join(org['markets'])}"
        )


@main.command("create-user")
@click.option("--org", "slug", required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(permissions.STAFF_ROLES), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--first-name", default="")
@click.option("--last-name", default="")
def create_user(slug, email, role, password, first_name, last_name):
    """Create a manager, KAM or operator of an organisation."""
    from shared import organisations

    bind_database()
    organisation = organisation_named(slug)
    try:
        user = organisations.create_staff_user(organisation, email, role, password, first_name, last_name)
    except organisations.SetupError as error:
        fail(str(error))
    click.echo(f"{role} {user.email} created")


@main.command("create-api-token")
@click.option("--org", "slug", required=True)
@click.option("--name", required=True, help="Who uses it, e.g. the CRM's name")
def create_api_token(slug, name):
    """Create an API token for an organisation and print it, once: only its hash is kept."""
    from shared import organisations

    bind_database()
    organisation = organisation_named(slug)
    try:
        click.echo(organisations.create_api_token(organisation, name))
    except organisations.SetupError as error:
        fail(str(error))


@main.command("list-api-tokens")
@click.option("--org", "slug", required=True)
def list_api_tokens(slug):
    """The organisation's API tokens: name, prefix, created, last used, revoked (never the token)."""
    from shared import organisations

    bind_database()
    organisation = organisation_named(slug)
    click.echo(f"{'name':<24}{'prefix':<12}{'created':<22}{'last used':<22}revoked")
    for token in organisations.api_tokens(organisation):
        click.echo(
            f"{token.name:<24}{token.prefix:<12}{_when(token.created_at):<22}{_when(token.last_used_at):<22}"
            f"{_when(token.revoked_at)}"
        )


@main.command("revoke-api-token")
@click.option("--org", "slug", required=True)
@click.option("--name", required=True, help="The token's name (every live token of that name is revoked)")
def revoke_api_token(slug, name):
    """Revoke an API token: it is refused from the next request on."""
    from shared import organisations

    bind_database()
    organisation = organisation_named(slug)
    revoked = organisations.revoke_api_tokens(organisation, name)
    if not revoked:
        fail(f"no live token named {name!r} in {slug}")
    click.echo(f"{revoked} token(s) named {name!r} revoked")


@main.command("set-webhook")
@click.option("--org", "slug", required=True)
@click.option("--url", required=True, help="Where account events are POSTed")
def set_webhook(slug, url):
    """Register the organisation's webhook URL and print its signing secret, once."""
    from shared import webhooks

    settings = bind_database()
    organisation = organisation_named(slug)
    try:
        _, secret = webhooks.register(organisation.id, url, allow_private=settings.webhook_allow_private_networks)
    except webhooks.InvalidUrl as error:
        fail(str(error))
    click.echo(secret)


@main.command("webhook-deliveries")
@click.option("--org", "slug", required=True)
@click.option("--limit", type=LIMIT, default=50, show_default=True, help="How many of the newest to show")
def webhook_deliveries(slug, limit):
    """The organisation's webhook delivery log, newest first: event, state, attempts, last answer."""
    from shared import webhooks

    bind_database()
    organisation = organisation_named(slug)
    items, total = webhooks.deliveries(organisation.id, page=1, per_page=limit)
    click.echo(f"{total} deliveries")
    click.echo(f"{'delivery id':<38}{'event':<18}{'account':>8}  {'state':<10}{'attempts':>8}  last answer")
    for delivery in items:
        view = webhooks.describe_delivery(delivery)
        answer = view["last_error"] or (f"HTTP {view['last_status_code']}" if view["last_status_code"] else "-")
        click.echo(
            f"{view['delivery_id']:<38}{view['event']:<18}{view['account_id']:>8}  {view['state']:<10}"
            f"{view['attempts']:>8}  {answer}"
        )


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@main.command()
@click.option("--port", envvar="PORT", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes")
@click.option("--threads", type=click.IntRange(1, 256), default=4, show_default=True, help="Threads per worker process")
def run(port, processes, threads):
    """Start everything locally: broker, mail catcher, workers, reconciler and the gateway."""
    from kamflow.devstack import run_stack

    run_stack(port=port, processes=processes, threads=threads)


from kamflow.ops_commands import register  # noqa: E402  status, retry, requeue-dead (issue 5)

register(main)

from kamflow.forecast_commands import register as register_forecasts  # noqa: E402  load-forecast

register_forecasts(main)

from kamflow.login_commands import register as register_login_commands  # noqa: E402  (issue 9)

register_login_commands(main)

if __name__ == "__main__":
    main()
