"""WSGI entry point: `gunicorn gateway.wsgi:app` (docker-compose.yml: gevent workers)."""

import logging

from gevent import monkey
from gunicorn.errors import AppImportError

from gateway import create_app
from shared import logging_setup, migrations
from shared.config import Settings, SettingsError

#: The shortest SECRET_KEY the deployed gateway takes (secrets.token_hex(32) gives 64).
MIN_SECRET_KEY_LENGTH = 32

# A setting the gateway cannot run with stops gunicorn itself with that one line: it halts on an
# AppImportError, printing its message alone, where it would restart a worker that exits for ever.
try:
    settings = Settings.from_env()
except SettingsError as error:
    raise AppImportError(f"kamflow cannot start, a setting is wrong: {error}") from None
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logging_setup.configure()  # LOG_FORMAT=json|text; account/stage on every line; secrets redacted
if monkey.is_module_patched("socket"):  # under gunicorn's gevent workers
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()  # a PostgreSQL query yields to other requests instead of blocking the process
if not settings.secret_key:
    # A random key per process (what create_app falls back to for tests and `make run`, which
    # keeps one in var/) would sign each gunicorn worker's sessions and CSRF tokens differently:
    # random logouts and "CSRF token invalid" behind any second worker, and everyone logged out
    # at each restart.
    raise AppImportError(
        'SECRET_KEY is not set. Set the same one on every gateway: python -c "import secrets; '
        'print(secrets.token_hex(32))"'
    )
if len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
    # Sessions and CSRF tokens are only as hard to forge as the key is to guess.
    raise AppImportError(
        f"SECRET_KEY is too short ({len(settings.secret_key)} characters): use at least {MIN_SECRET_KEY_LENGTH} "
        'random ones, e.g. python -c "import secrets; print(secrets.token_hex(32))"'
    )
migrations.require_current(settings.database_url)  # refuse to serve a database that is behind
app = create_app(settings)
