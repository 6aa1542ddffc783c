"""Everything one bench run needs, started on loopback and stopped again whatever happens:
redis-server, mail catcher, a migrated database with the bench's organisation, the gunicorn
gateway, and pools of `dramatiq workers.main` processes started and stopped per phase."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

import redis

from bench import memory, organisation, processes
from bench.deadline import Deadline
from kamflow.embedded_redis import EmbeddedRedis, free_port
from kamflow.mailcatcher import MailCatcher
from shared import db, migrations, observability

#: Fast clocks for the workers (like the tests'), and a rate limit the bench never reaches.
FAST_SETTINGS = {
    "MAX_RETRIES": "5",
    "MIN_BACKOFF_MS": "100",
    "MAX_BACKOFF_MS": "1000",
    "STAGE_TIME_LIMIT_MS": "20000",
    "RECONCILE_INTERVAL_S": "2",
    "STALL_AFTER_S": "60",
    "HEARTBEAT_TIMEOUT_MS": "10000",
    "API_RATE_LIMIT": "1000000 per minute",
}


class Stack:
    def __init__(
        self, database_url: str, directory: Path, deadline: Deadline, gateway_workers: int, worker_threads: int
    ):
        self.database_url = database_url
        self.directory = directory
        self.deadline = deadline
        self.gateway_workers = gateway_workers
        self.worker_threads = worker_threads
        self.cleanup = contextlib.ExitStack()
        self.gateway: processes.Child | None = None
        self.mail: MailCatcher | None = None
        self.redis_url = ""
        self.token = ""
        self.kam_password = ""
        self.env: dict = {}

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.cleanup.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup.close()

    @property
    def base_url(self) -> str:
        return self.env["BASE_URL"]

    def _start(self) -> None:
        server = EmbeddedRedis(directory=self.directory / "redis").start()
        self.cleanup.callback(server.stop)
        self.redis_url = server.url
        self.mail = MailCatcher(echo=False).start()  # no directory: messages kept in memory, counted
        self.cleanup.callback(self.mail.stop)

        db.bind(self.database_url)
        migrations.migrate()
        self.token, self.kam_password = organisation.seed()

        port = free_port()
        var_dir = self.directory / "var"
        var_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            **FAST_SETTINGS,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SMTP_URL": self.mail.url,
            "SECRET_KEY": secrets.token_hex(32),
            "BASE_URL": f"http://127.0.0.1:{port}",
            "KAMFLOW_VAR_DIR": str(var_dir),
            # Dramatiq's Prometheus exporter: loopback, a free port, this run's own sample files.
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": str(free_port()),
            "dramatiq_prom_db": str(self.directory / "prometheus"),
        }
        self.gateway = processes.start_gateway(self.env, port, self.gateway_workers, self.directory)
        self.cleanup.callback(self.gateway.stop)
        processes.wait_http_ok(f"{self.base_url}/healthz", self.gateway, self.deadline)

    @contextlib.contextmanager
    def worker_pool(self, count: int):
        """`dramatiq workers.main --processes count`, ready (every process registered and beating);
        yields the child and, on exit, records its peak memory in `pool.peak` before stopping it."""
        pool = processes.start_workers(self.env, count, self.worker_threads, self.directory)
        try:
            self._wait_registered(pool, count)
            yield pool
            pool.peak = pool.peak_memory()
        finally:
            pool.stop()

    def _wait_registered(self, pool: processes.Child, count: int) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            while True:
                pool.check_alive()
                mine = set(memory.tree(pool.pid))
                alive = [
                    w for w in observability.workers(client, alive_within_ms=5000) if w["alive"] and w["pid"] in mine
                ]
                if len(alive) >= count:
                    return
                self.deadline.check(f"waiting for {count} worker process(es) to start")
                time.sleep(0.1)
        finally:
            client.close()
