"""A gateway started as deployed (`gunicorn gateway.wsgi:app`) without SECRET_KEY refuses to
start, saying how to make one: each process would otherwise sign sessions and CSRF tokens with a
key of its own, and a person's next request, served by another process, would be logged out or
refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_deployed_gateway_refuses_to_start_without_a_secret_key(tmp_path, redis_url):
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'kamflow.db'}", REDIS_URL=redis_url, PYTHONPATH=str(REPO))
    gateway = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "gateway.wsgi:app"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gateway.returncode != 0
    assert "SECRET_KEY is not set" in gateway.stderr and "secrets.token_hex(32)" in gateway.stderr
