"""The worker health check an orchestrator runs (`python -m workers.health`), and /ops's view of
the workers: a live worker passes, a stopped one fails, a killed one turns silent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import dramatiq
import pytest
from support import wait_until

from gateway import probe
from ops.support import read_snapshot
from workers import health as worker_health


def health(redis_url, *args):
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-m", "workers.health", *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_health_check_passes_while_a_worker_runs_and_fails_once_it_stopped(broker, redis_url):
    assert health(redis_url).returncode == 1  # nothing runs yet
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=3)
    worker.start()
    try:
        alive = health(redis_url)
        assert alive.returncode == 0, alive.stderr
        assert f"1 worker process(es) alive on {socket.gethostname()}, 3 threads" in alive.stdout
    finally:
        worker.stop()
    stopped = health(redis_url)
    assert stopped.returncode == 1 and "no worker process registered" in stopped.stderr


def test_a_killed_worker_turns_silent_on_ops_and_fails_the_check(
    settings, broker, ops, fast_liveness, worker_processes
):
    process = worker_processes()
    workers = wait_until(
        lambda: [w for w in read_snapshot(ops)["workers"] if w["pid"] != os.getpid() and w["alive"]],
        timeout=30,
        message="the worker process never showed up alive",
    )
    assert workers[0]["threads"] == 2  # the dramatiq CLI's worker process (a child of process.pid)
    assert health(settings.redis_url, "--any-host").returncode == 0
    process.kill()  # no goodbye: only its heartbeat stops
    wait_until(lambda: read_snapshot(ops)["workers_summary"]["silent"] == 1, timeout=10)
    assert "1 silent" in ops.get("/ops/panel").text
    dead = health(settings.redis_url, "--any-host", "--max-silence", "2")
    assert dead.returncode == 1 and "0 of 1 worker process(es) alive" in dead.stderr


@pytest.mark.parametrize(
    "main, args, message",
    [
        (worker_health.main, ["--max-silence", "nan"], "argument --max-silence: 'nan': not a finite number"),
        (worker_health.main, ["--max-silence", "inf"], "argument --max-silence: 'inf': not a finite number"),
        (worker_health.main, ["--max-silence", "-5"], "argument --max-silence: '-5': must be more than 0"),
        (worker_health.main, ["--min-processes", "0"], "--min-processes: 0 must be 1 or more"),
        (probe.main, ["--timeout", "nan"], "argument --timeout: 'nan': not a finite number"),
        (probe.main, ["--timeout", "-1"], "argument --timeout: '-1': must be more than 0"),
        (probe.main, ["--port", "99999"], "--port: 99999 is not a port (1 to 65535)"),
        (probe.main, ["--path", "nohost"], "argument --path: invalid choice: 'nohost'"),
    ],
)
def test_a_health_check_with_a_bad_option_is_a_usage_error(capsys, main, args, message):
    """Before: a traceback (cannot convert float NaN to integer; Timeout value out of range;
    nonnumeric port '8000nohost') where the orchestrator's log should say what is wrong."""
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2 and message in capsys.readouterr().err
