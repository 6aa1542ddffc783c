"""Worker liveness, for people (/ops) and for container orchestrators.

Each worker process registers itself in Redis (host, pid, threads, queues) under its broker id;
Dramatiq's own heartbeat — every broker command stamps `dramatiq:__heartbeats__` with that id,
and an idle consumer still polls about once a second — says whether it is alive.

    python -m workers.health            # exit 0 if a worker process on this host is alive
    python -m workers.health --any-host # ... on any host (a smoke test for the whole pool)

Usable as a Docker/Kubernetes exec probe in the worker container (same hostname as the
workers). Reads REDIS_URL. Exit 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading

import redis
from dramatiq import Middleware

from shared import observability
from shared.config import positive_number, settings_or_exit

log = logging.getLogger(__name__)

#: Registrations are re-written this often, so a Redis restart (which forgets them) heals.
REGISTER_EVERY_S = 10.0


class WorkerRegistry(Middleware):
    def __init__(self):
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        self.stopped.clear()
        threads = worker.worker_threads
        whitelist = sorted(worker.consumer_whitelist) if worker.consumer_whitelist else None

        def keep_registered():
            while True:
                try:
                    observability.register_worker(broker.client, broker.broker_id, threads, whitelist)
                except redis.RedisError as error:
                    log.warning("worker registration skipped: %s", error)
                if self.stopped.wait(REGISTER_EVERY_S):
                    return

        self.thread = threading.Thread(target=keep_registered, name="worker-registry", daemon=True)
        self.thread.start()

    def before_worker_shutdown(self, broker, worker):
        self.stopped.set()
        if self.thread:
            self.thread.join(timeout=5)
        try:
            observability.unregister_worker(broker.client, broker.broker_id)
        except redis.RedisError:
            pass  # it will be shown silent, then forgotten


def check(client, host: str | None, max_silence_ms: int, min_processes: int = 1) -> tuple[bool, str]:
    """(healthy, why) for the worker processes of `host` (None: any host)."""
    found = observability.workers(client, alive_within_ms=max_silence_ms)
    mine = [w for w in found if host is None or w["host"] == host]
    alive = [w for w in mine if w["alive"]]
    where = f"on {host}" if host else "anywhere"
    if len(alive) >= min_processes:
        threads = sum(w["threads"] for w in alive)
        return True, f"{len(alive)} worker process(es) alive {where}, {threads} threads"
    if not mine:
        return False, f"no worker process registered {where}"
    silent = min(w["silent_s"] for w in mine)
    return False, f"{len(alive)} of {min_processes} worker process(es) alive {where}; freshest heartbeat {silent} s ago"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--any-host", action="store_true", help="accept a live worker on any host")
    parser.add_argument(
        "--max-silence",
        type=positive_number,
        default=observability.ALIVE_WITHIN_MS / 1000,
        help="seconds without a heartbeat before a worker counts as dead (default %(default)s)",
    )
    parser.add_argument("--min-processes", type=int, default=1)
    args = parser.parse_args(argv)
    if args.min_processes < 1:
        parser.error(f"--min-processes: {args.min_processes} must be 1 or more")
    url = settings_or_exit().redis_url
    if not url:
        print("unhealthy: REDIS_URL is not set", file=sys.stderr)
        return 1
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        healthy, why = check(
            client, None if args.any_host else socket.gethostname(), int(args.max_silence * 1000), args.min_processes
        )
    except redis.RedisError as error:
        healthy, why = False, f"broker unreachable: {error}"
    print(("healthy: " if healthy else "unhealthy: ") + why, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
