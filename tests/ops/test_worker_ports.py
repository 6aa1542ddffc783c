"""A test's worker process listens on loopback only, on free ports: never Dramatiq's default
exporter on 0.0.0.0:9191, which a second `make test` or a running `make run` would collide with."""

from __future__ import annotations

import os
import urllib.request

from support import wait_until
from worker_processes import listening_addresses, worker_env


def test_a_test_worker_binds_only_free_loopback_ports(settings, broker, mailbox, monkeypatch, worker_processes):
    # (`broker` migrates the database: a worker refuses to start on one that is behind.)
    # Even with the exporter's variables set in the environment pytest runs in (as `make run` does).
    monkeypatch.setenv("dramatiq_prom_host", "0.0.0.0")
    monkeypatch.setenv("dramatiq_prom_port", "9191")
    env = worker_env(settings, mailbox.url)
    port = int(env["dramatiq_prom_port"])
    process = worker_processes(env)

    def exporter_answers():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    wait_until(exporter_answers, timeout=30, message="the worker's exporter never answered on its own port")
    listening = listening_addresses(process.pid)
    assert ("127.0.0.1", port) in listening
    assert port != 9191
    assert {address for address, _ in listening} == {"127.0.0.1"}, listening


def test_any_worker_a_test_starts_with_the_inherited_environment_binds_only_loopback(
    settings, mailbox, org, tmp_path, worker_processes
):
    """A test that starts `dramatiq` with its own copy of the environment (and no exporter
    settings of its own) still gets loopback and a port the system chose, never 0.0.0.0:9191."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SMTP_URL": mailbox.url,
    }
    process = worker_processes(env, log_path=tmp_path / "worker.log")
    listening = wait_until(
        lambda: listening_addresses(process.pid) or not process.alive(),
        timeout=30,
        message="the worker's exporter never listened",
    )
    assert listening is not True, (tmp_path / "worker.log").read_text()
    assert {address for address, _ in listening} == {"127.0.0.1"}, listening
    assert 9191 not in {port for _, port in listening}
