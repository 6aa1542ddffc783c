"""WSGI entry point: `gunicorn gateway.wsgi:app`."""

import logging

from gateway import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
