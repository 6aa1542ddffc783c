"""`kamflow load-forecast`: an operator loads the application's reference curve for a market
(or a manager's curve for an organisation) from a CSV file, through the same function as the
upload pages: the same validation, errors by line, each upload kept with its date."""

from __future__ import annotations

import click

from kamflow.command_context import bind_database, fail, organisation_named


@click.command("load-forecast")
@click.option("--market", required=True, help="Market id, e.g. fr-power")
@click.option("--org", "slug", default=None, help="Load it as this organisation's manager forecast instead")
@click.argument("csv_file", type=click.File("rb"))
def load_forecast(market, slug, csv_file):
    """Load a forecast curve from CSV_FILE (lines `YYYY-MM,price`, header `month,price` optional)."""
    from shared.db import database
    from shared.optimisations import forecasts

    bind_database()
    with database.connection_context():
        owner = {}
        if slug:
            owner = {"organisation_id": organisation_named(slug).id}
        try:
            upload = forecasts.upload_csv(
                "manager" if slug else "application",
                market,
                csv_file.read(),
                "operator (kamflow load-forecast)",
                **owner,
            )
        except forecasts.ForecastRejected as rejected:
            fail("the forecast was not loaded:\n  " + "\n  ".join(rejected.errors))
    click.echo(f"{upload.kind} forecast for {market}: {upload.months} months loaded")


def register(group: click.Group) -> None:
    group.add_command(load_forecast)
