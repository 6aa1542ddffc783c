"""docker-compose.yml: valid for docker-compose, keeping its promises (AOF, volumes, health checks,
migrate first, a grace period longer than a stage), and — run as plain processes on loopback from
the very commands in the file — two gateways, two worker hosts and the webhook worker turn API
requests into active accounts with their emails and webhooks; idle clients cannot freeze it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from compose_topology import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO,
    activated,
    call,
    compose,
    crm_request,
    env_file,
    organisation,
    running_stack,
    service,
    wait_final,
)
from support import POSTGRES_URL, wait_until

from shared import queues, workflow
from shared.config import Settings

DOCKER_COMPOSE = shutil.which("docker-compose")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set")


# --- the file ---------------------------------------------------------------------------------


@pytest.mark.skipif(not DOCKER_COMPOSE, reason="docker-compose is not installed (.ci/run installs it)")
def test_docker_compose_accepts_the_file_with_the_example_settings_and_refuses_it_without_a_secret(tmp_path):
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    example = ENV_EXAMPLE.read_text()
    (tmp_path / ".env").write_text(
        example.replace("\nSECRET_KEY=\n", "\nSECRET_KEY=0123456789abcdef\n").replace(
            "\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=pw\n"
        )
    )
    checked = subprocess.run(
        [DOCKER_COMPOSE, "-f", "docker-compose.yml", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert "service_completed_successfully" in checked.stdout

    (tmp_path / ".env").write_text(example.replace("\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=pw\n"))
    refused = subprocess.run(
        [DOCKER_COMPOSE, "-f", "docker-compose.yml", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "set SECRET_KEY in .env" in refused.stderr


def _seconds(duration: str) -> float:
    return sum(float(n) * {"m": 60, "s": 1}[unit] for n, unit in re.findall(r"(\d+)([ms])", duration))


def test_the_compose_file_keeps_redis_and_postgres_data_and_starts_nothing_before_migrate():
    services = compose()["services"]
    assert {"redis", "postgres", "migrate", "gateway", "worker", "webhook-worker", "mail"} <= set(services)
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    for name, path in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data")):
        assert any(volume.endswith(":" + path) for volume in services[name]["volumes"]), name
    for name in ("redis", "postgres", "gateway", "worker", "webhook-worker", "mail"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway", "worker", "webhook-worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "python", "-m", "workers.health"]
    # a stopping worker may finish a stage that just started
    assert _seconds(services["worker"]["stop_grace_period"]) > Settings().stage_time_limit_ms / 1000
    assert services["mail"]["profiles"] == ["staging"]
    # The catcher shows every email, set-password links included: never started by the example
    # settings, and its page reachable from the host itself only.
    assert "COMPOSE_PROFILES" not in env_file(ENV_EXAMPLE)
    assert all(port.startswith("127.0.0.1:") for port in services["mail"]["ports"])


def test_the_workers_consume_every_queue_once_the_webhooks_apart():
    variables = {**env_file(ENV_EXAMPLE), "SECRET_KEY": "set-by-the-operator"}
    stage_command, _ = service("worker", variables)
    webhook_command, _ = service("webhook-worker", variables)

    def consumed(command):
        return command[command.index("--queues") + 1 :]

    assert consumed(stage_command) == list(workflow.STAGE_NAMES)
    assert consumed(webhook_command) == [queues.DELIVER_WEBHOOK]
    assert sorted(consumed(stage_command) + consumed(webhook_command)) == sorted(queues.queue_names())


def test_the_image_runs_as_an_unprivileged_user_and_holds_no_settings():
    dockerfile = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    baked = " ".join(re.findall(r"^(?:ENV|ARG)\s+(.+(?:\\\n.+)*)", dockerfile, flags=re.M))
    for setting in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SMTP_URL", "METRICS_TOKEN", "PASSWORD"):
        assert setting not in baked, setting
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*" and not any(".env" in rule for rule in rules)  # only what is listed goes in


# --- the topology, as processes -----------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """A CRM's webhook endpoint on loopback: keeps each event it gets, answers 204."""

    events: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.events.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    """Redis, migrate, two gateways, two worker hosts and the webhook worker, from the file."""
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set: the topology runs on PostgreSQL, as deployed")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with running_stack(tmp_path_factory.mktemp("topology"), POSTGRES_URL) as stack:
        stack.receiver = receiver
        yield stack
    receiver.shutdown()
    receiver.server_close()


@pytest.fixture(scope="module")
def token(topology):
    return organisation(topology)


@needs_postgres
def test_the_compose_services_run_as_processes_turn_requests_into_active_accounts(topology, token):
    assert "0001_baseline: applied" in topology.migrate_output
    broker = redis.Redis.from_url(topology.variables["REDIS_URL"])
    assert broker.config_get("appendonly") == {"appendonly": "yes"}  # the file's redis arguments, AOF on
    secret = topology.run_cli(
        "set-webhook", "--org", "volt", "--url", f"http://127.0.0.1:{topology.receiver.server_port}/hooks"
    )
    assert secret.returncode == 0, secret.stderr

    accepted = []
    for n in range(6):  # alternately through both gateways, as a load balancer would
        status, body, headers = call(
            f"{topology.gateways[n % 2]}/api/v1/customer-accounts",
            token,
            "POST",
            crm_request(n),
            {"Idempotency-Key": f"topology-{n}"},
        )
        assert status == 202, body
        accepted.append(body["id"])

    final = wait_final(topology.gateways[0], token, accepted)
    assert {i: b["status"] for i, b in final.items()} == {i: "active" for i in accepted}, [
        topology.log(n)[-3000:] for n in ("worker-1", "worker-2")
    ]
    emails = topology.mail.wait_for(len(accepted), timeout=30)
    assert sorted(m["To"] for m in emails) == sorted(f"buyer{n}@plant{n}.example" for n in range(6))
    wait_until(
        lambda: len(Receiver.events) >= len(accepted),
        60,
        lambda: f"{len(Receiver.events)} webhook events, not {len(accepted)}",
        interval=0.3,
    )
    assert sorted(activated(Receiver.events)) == sorted(accepted)  # each once

    # The gateway's compose health check, pointed at where gateway-1 listens here.
    _, gateway_env = service("gateway", topology.variables)
    check = compose()["services"]["gateway"]["healthcheck"]["test"][1:]
    port = topology.gateways[0].rsplit(":", 1)[1]
    healthy = subprocess.run(
        [sys.executable, *check[1:], "--port", port],
        env={**os.environ, **gateway_env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert healthy.returncode == 0, healthy.stderr
    assert call(topology.gateways[0] + "/readyz", token, headers={"Host": "elsewhere.example"})[0] == 400

    # Both worker hosts took part, and the compose health check says the pool is alive.
    _, worker_env = service("worker", topology.variables)
    health = subprocess.run(
        [sys.executable, "-m", "workers.health", "--min-processes", "3"],
        env={**os.environ, **worker_env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert health.returncode == 0, health.stderr


@needs_postgres
def test_half_sent_requests_do_not_keep_others_from_the_gateway(topology):
    host, port = topology.gateways[0].removeprefix("http://").split(":")
    stalled = []
    for n in range(12):  # headers cut short, and bodies promised but never sent
        sock = socket.create_connection((host, int(port)), timeout=5)
        if n % 2:
            sock.sendall(b'POST /api/v1/customer-accounts HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"kam')
        else:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        stalled.append(sock)
    try:
        started = time.monotonic()
        with urllib.request.urlopen(topology.gateways[0] + "/healthz", timeout=10) as answer:
            assert answer.status == 200
        assert time.monotonic() - started < 2.0
    finally:
        for sock in stalled:
            sock.close()


def refuses(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return True
    return False


@needs_postgres
def test_a_gateway_told_to_stop_finishes_the_request_it_is_reading(topology, token):
    """SIGTERM (docker stop) reaches gateway-2 while a request is half-way in: that request is
    still read, stored and answered 202; only then does the gateway exit, by itself."""
    host, port = topology.gateways[1].removeprefix("http://").split(":")
    body = json.dumps(crm_request(100)).encode()
    head = (
        f"POST /api/v1/customer-accounts HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: in-flight-100\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    gateway = topology.processes["gateway-2"]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body[:40])
        time.sleep(0.5)
        gateway.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses(host, int(port)), 10, "gateway-2 still accepts connections after SIGTERM")
        sock.sendall(body[40:])
        answer = sock.makefile("rb").read().decode(errors="replace")
    assert answer.startswith("HTTP/1.1 202"), answer[:500]
    assert topology.stop("gateway-2", timeout=40) == 0
    account_id = json.loads(answer.split("\r\n\r\n", 1)[1])["id"]
    assert wait_final(topology.gateways[0], token, [account_id])[account_id]["status"] == "active"
    topology.gateways[1] = topology.start_gateway("gateway-2")  # as it was, for whatever runs next
