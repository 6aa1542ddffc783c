"""A gateway started as deployed (`gunicorn gateway.wsgi:app`) without SECRET_KEY, or with one
too short to be secret, refuses to start, saying how to make one: each process would otherwise sign sessions and CSRF tokens with a
key of its own, and a person's next request, served by another process, would be logged out or
refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _start_deployed_gateway(tmp_path, redis_url, **settings) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'kamflow.db'}", REDIS_URL=redis_url, PYTHONPATH=str(REPO))
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "gateway.wsgi:app"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deployed_gateway_refuses_to_start_without_a_secret_key(tmp_path, redis_url):
    gateway = _start_deployed_gateway(tmp_path, redis_url)
    assert gateway.returncode != 0
    assert "SECRET_KEY is not set" in gateway.stderr and "secrets.token_hex(32)" in gateway.stderr


def test_the_deployed_gateway_refuses_a_secret_key_easy_to_guess(tmp_path, redis_url):
    """A key of a few characters would let anyone who guesses it forge a session cookie."""
    gateway = _start_deployed_gateway(tmp_path, redis_url, SECRET_KEY="changeme")
    assert gateway.returncode != 0
    assert "SECRET_KEY is too short (8 characters): use at least 32" in gateway.stderr
