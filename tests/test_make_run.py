"""`make run` (`kamflow run`) as a new user meets it: it prints the demo organisation's slug, and
the `kamflow` commands typed beside it find the Redis and database it started, without
exporting anything. A real run: embedded redis-server, mail catcher, workers and gunicorn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from support import wait_until

from kamflow.embedded_redis import free_port

pytestmark = pytest.mark.slow

KAMFLOW = [sys.executable, "-m", "kamflow.cli"]


@pytest.fixture
def make_run(tmp_path):
    """`kamflow run` in its own var/ directory, on free loopback ports, stopped by Ctrl-C."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "SMTP_URL", "DATABASE_URL", "BASE_URL") and not k.lower().startswith("dramatiq_prom")
    }
    env.update(
        {"KAMFLOW_VAR_DIR": str(tmp_path / "var"), "PORT": str(free_port()), "dramatiq_prom_port": str(free_port())}
    )
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*KAMFLOW, "run"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    run_file = tmp_path / "var" / "run.json"
    wait_until(
        lambda: process.poll() is not None or ("Organisation:" in log.read_text() and run_file.exists()),
        60,
        log.read_text,
        interval=0.2,
    )
    assert process.poll() is None, log.read_text()
    yield {
        "env": {k: v for k, v in env.items() if k not in ("PORT", "dramatiq_prom_port")},
        "cwd": tmp_path,
        "log": log,
        "run_file": run_file,
        "process": process,
    }
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def kamflow(run, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*KAMFLOW, *args], env=run["env"], cwd=run["cwd"], capture_output=True, text=True, timeout=60)


def test_make_run_prints_the_demo_slug_and_kamflow_commands_find_its_services(make_run):
    output = make_run["log"].read_text()
    assert "Organisation: demo-supplier" in output
    recorded = json.loads(make_run["run_file"].read_text())["settings"]
    assert recorded["REDIS_URL"].startswith("redis://127.0.0.1:") and recorded["SMTP_URL"].startswith(
        "smtp://127.0.0.1:"
    )
    assert oct(make_run["run_file"].stat().st_mode & 0o777) == "0o600"  # var/ holds private things

    status = kamflow(make_run, "status")
    assert status.returncode == 0, status.stderr
    assert "REDIS_URL is not set" not in status.stdout
    assert "validate_customer" in status.stdout and "queue" in status.stdout.lower()

    orgs = kamflow(make_run, "list-orgs")
    assert orgs.returncode == 0, orgs.stderr
    (line,) = [line for line in orgs.stdout.splitlines() if line.startswith("demo-supplier")]
    assert "Demo Supplier" in line and "fr-power" in line

    locks = kamflow(make_run, "login-locks")  # a command reading Redis only finds it too
    assert locks.returncode == 0 and "no login is locked" in locks.stdout, locks.stderr

    # Stopped, the record goes: a command no longer points at a Redis that is not there.
    os.killpg(make_run["process"].pid, signal.SIGINT)
    make_run["process"].wait(timeout=30)
    assert not make_run["run_file"].exists()
    after = kamflow(make_run, "status")
    assert "REDIS_URL is not set and no `make run` is running here" in after.stdout


def test_make_run_keeps_var_private_to_its_owner(make_run):
    """var/ holds the database with webhook secrets, the secret key and the caught mail."""
    var = make_run["cwd"] / "var"
    paths = [var, *var.rglob("*")]
    assert any(path.name == "kamflow.db" for path in paths) and any(path.is_dir() for path in paths[1:])
    exposed = [
        f"{path} {oct(path.stat().st_mode & 0o777)}"
        for path in paths
        if not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert exposed == []
    assert oct(var.stat().st_mode & 0o777) == "0o700"
