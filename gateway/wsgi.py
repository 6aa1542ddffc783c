"""WSGI entry point: `gunicorn gateway.wsgi:app`."""

import logging

from gateway import create_app
from shared import logging_setup

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logging_setup.configure()  # LOG_FORMAT=json|text; account/stage on every line; secrets redacted
app = create_app()
