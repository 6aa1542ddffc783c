"""The gateway (gunicorn) and the workers (`dramatiq workers.main`) as real child processes.

Each child gets its own session, so the whole tree (gunicorn's workers, dramatiq's worker
processes and exporter fork) is stopped by signalling its process group; Ctrl-C on the bench
does not reach them directly, the bench's own cleanup stops them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import memory


class ChildDied(RuntimeError):
    pass


class Child:
    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ChildDied(f"{self.name} exited with {self.process.returncode}; its log ends:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def peak_memory(self) -> dict:
        return memory.tree_peak(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)  # stragglers of the group (forks) too
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()

    def _signal_group(self, sig) -> None:
        try:
            os.killpg(self.process.pid, sig)  # the group is the child's own: start_new_session
        except (ProcessLookupError, PermissionError):
            pass


def start_gateway(
    env: dict, port: int, workers: int, log_dir: Path, app: str = "gateway.wsgi:app", name: str = "gateway (gunicorn)"
) -> Child:
    """gunicorn serving `app`; the bare endpoint floor gets exactly the same settings."""
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        app,
    ]
    return Child(name, argv, env, log_dir / f"{app.split(':')[0]}.log")


def start_workers(
    env: dict, processes: int, threads: int, log_dir: Path, module: str = "workers.main", name: str | None = None
) -> Child:
    """`dramatiq module`; the chain floors get exactly the same process and thread counts."""
    argv = [sys.executable, "-m", "dramatiq", module, "--processes", str(processes), "--threads", str(threads)]
    return Child(name or f"workers ({processes} process(es))", argv, env, log_dir / f"{module}-{processes}p.log")


def wait_http_ok(url: str, child: Child, deadline) -> None:
    while True:
        child.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        deadline.check(f"waiting for {url}")
        time.sleep(0.1)
