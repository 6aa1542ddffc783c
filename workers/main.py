"""Entry point for the `dramatiq` CLI: `dramatiq workers.main --processes 2 --threads 4`."""

import logging

from shared import logging_setup, migrations
from shared.config import settings_or_exit
from workers import boot

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logging_setup.configure()  # LOG_FORMAT=json|text; account/stage on every line; secrets redacted
settings = settings_or_exit().with_secret()
migrations.require_current(settings.database_url)  # refuse to work on a database that is behind
broker = boot(settings, exporter=True)  # the CLI boots this process: its metrics are exported
