"""`kamflow run`: the whole system on one machine, with nothing installed but the venv.

Starts what is not configured (an embedded redis-server unless REDIS_URL, a mail catcher
unless SMTP_URL), migrates and seeds the demo organisation, then runs the workers (with the
reconciler) in two pools, stages and webhook deliveries, and the gateway as child processes,
sharing one environment. Ctrl-C stops it all.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

from kamflow import demo
from kamflow.embedded_redis import EmbeddedRedis, free_port
from kamflow.mailcatcher import MailCatcher
from shared import db, logging_setup, migrations, queues
from shared.config import RECORDED, RUN_FILE, VAR_DIR, settings_or_exit

log = logging.getLogger("kamflow.run")


def _secret_key() -> str:
    """A dev secret kept under var/, so sessions survive a restart of `make run`."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _record_run(settings: dict) -> None:
    """Write what this run started where every `kamflow` command looks (var/, private)."""
    RUN_FILE.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(RUN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"pid": os.getpid(), "settings": settings}, out, indent=2)


def _make_var_private() -> None:
    """var/ holds the SQLite database (webhook secrets, password hashes), the secret key, the
    caught mail (set-password links) and Redis' dump: only its owner may read it. The umask
    covers what this run and its children create; the walk fixes what an earlier run left."""
    os.umask(0o077)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    for directory, _subdirectories, files in os.walk(VAR_DIR):
        os.chmod(directory, 0o700)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


def _delivery_pool_env(env: dict, prometheus_dir) -> dict:
    """The delivery pool's exporter: its own samples and port (loopback), beside the stages'."""
    samples = prometheus_dir / "deliveries"
    samples.mkdir(parents=True, exist_ok=True)
    return {**env, "dramatiq_prom_db": str(samples), "dramatiq_prom_port": str(free_port())}


def run_stack(port: int, processes: int, threads: int) -> None:
    _make_var_private()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging_setup.configure()  # LOG_FORMAT=json|text; secrets redacted (not the dev mail catcher)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter
    env = dict(os.environ)
    started = []
    if not env.get("REDIS_URL"):
        redis_server = EmbeddedRedis(directory=VAR_DIR / "redis").start()
        started.append(redis_server)
        env["REDIS_URL"] = redis_server.url
        log.info("embedded redis-server on %s", redis_server.url)
    if not env.get("SMTP_URL"):
        catcher = MailCatcher(directory=VAR_DIR / "mail", echo=True).start()
        started.append(catcher)
        env["SMTP_URL"] = catcher.url
        log.info("mail catcher on %s; messages in %s", catcher.url, VAR_DIR / "mail")
    env.setdefault("SECRET_KEY", _secret_key())
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")

    # The workers' Prometheus exporter (Dramatiq's): this stack's own counters, on loopback only.
    prometheus_dir = VAR_DIR / "prometheus"
    shutil.rmtree(prometheus_dir, ignore_errors=True)
    prometheus_dir.mkdir(parents=True)
    env.setdefault("dramatiq_prom_db", str(prometheus_dir))
    env.setdefault("dramatiq_prom_host", "127.0.0.1")

    settings = settings_or_exit(env)
    db.bind(settings.database_url)
    migrations.migrate()
    with db.database.connection_context():
        seeded = demo.seed()

    _record_run({name: env[name] for name in RECORDED if env.get(name)} | {"DATABASE_URL": settings.database_url})

    worker = [sys.executable, "-m", "dramatiq", "workers.main"]
    children = [
        # Two pools: the stages, and the webhook deliveries apart (a trickling receiver holds
        # delivery threads only, never another organisation's accounts).
        subprocess.Popen(
            worker
            + ["--processes", str(processes), "--threads", str(threads), "--queues", *queues.stage_pool_queues()],
            env=env,
        ),
        subprocess.Popen(
            worker + ["--processes", "1", "--threads", str(threads), "--queues", *queues.DELIVERY_QUEUES],
            env=_delivery_pool_env(env, prometheus_dir),
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gevent",
                "--no-control-socket",
                "--access-logfile",
                "-",
                "gateway.wsgi:app",
            ],
            env=env,
        ),
    ]
    print(f"\nkamflow is starting on {settings.base_url}", flush=True)
    print(f"KAM login: {seeded['kam'][0]} {seeded['kam'][1]}")
    print(f"Manager login: {seeded['manager'][0]} {seeded['manager'][1]}")
    print(f"API token: {seeded['token']}")
    print(
        f"Organisation: {demo.SLUG} (kamflow list-orgs lists them; kamflow commands here find this stack's "
        f"Redis and database in {RUN_FILE})",
        flush=True,
    )
    print("Press Ctrl-C to stop.\n", flush=True)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            if any(child.poll() is not None for child in children):
                log.error("a kamflow process exited; stopping the rest")
                break
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        RUN_FILE.unlink(missing_ok=True)
        for service in reversed(started):
            service.stop()
        print("kamflow stopped.")
