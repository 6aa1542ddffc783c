"""WSGI entry point: `gunicorn gateway.wsgi:app` (docker-compose.yml: gevent workers)."""

import logging

from gevent import monkey

from gateway import create_app
from shared import logging_setup, migrations
from shared.config import Settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logging_setup.configure()  # LOG_FORMAT=json|text; account/stage on every line; secrets redacted
if monkey.is_module_patched("socket"):  # under gunicorn's gevent workers
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()  # a PostgreSQL query yields to other requests instead of blocking the process
settings = Settings.from_env()
migrations.require_current(settings.database_url)  # refuse to serve a database that is behind
app = create_app(settings)
