"""Real `dramatiq workers.main` processes for the tests, each binding only what it owns.

The `dramatiq` CLI forks Dramatiq's Prometheus exporter, which listens on 0.0.0.0:9191 unless
told otherwise: a test worker on that default would collide with a second `make test` or a
running `make run` on the same machine, and listen on every interface. So every test worker's
exporter gets loopback, a free port and its own sample directory, whatever the environment says.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile

from kamflow.embedded_redis import free_port


def worker_env(settings, smtp_url: str, **extra) -> dict:
    """The environment of a worker process on the tests' database, Redis and SMTP server."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("prometheus_multiproc", "dramatiq_prom"))}
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "SMTP_URL": smtp_url,
            "BASE_URL": settings.base_url,
            "MAX_RETRIES": "2",
            "MIN_BACKOFF_MS": "100",
            "MAX_BACKOFF_MS": "400",
            "STAGE_TIME_LIMIT_MS": "6000",
            "STALL_AFTER_S": "7",
            "RECONCILE_INTERVAL_S": "0.5",
            "HEARTBEAT_TIMEOUT_MS": "5000",
            # Dramatiq's exporter: loopback, a free port, samples of this process only.
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": str(free_port()),
            "dramatiq_prom_db": tempfile.mkdtemp(prefix="kamflow-test-prom-"),
        }
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A real `dramatiq workers.main` process, in its own session so that it stops whole (the
    CLI's parent, its worker processes and its exporter). Its output goes to `log_path`, or
    nowhere; the tests' copy of that file is closed at once (the process keeps its own)."""

    def __init__(self, env: dict, threads: int = 2, processes: int = 1, queues=(), log_path=None, cwd=None):
        command = [sys.executable, "-m", "dramatiq", "workers.main", "--processes", str(processes)]
        command += ["--threads", str(threads), *(["--queues", *queues] if queues else [])]
        with open(log_path, "ab") if log_path else contextlib.nullcontext(subprocess.DEVNULL) as out:
            self.popen = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole session: no goodbye, as when a host dies."""
        self.stop(signal.SIGKILL)

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> None:
        """Send `sig` to the session and wait for the process; SIGKILL if it is still there."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()


def listening_addresses(session_id: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listened on by the processes of a session (Linux /proc)."""
    inodes = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(pid)) != session_id:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ProcessLookupError):
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # LISTEN
                    address, port = local.split(":")
                    found.add((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_address)
    # /proc writes each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))
