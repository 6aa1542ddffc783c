"""A Dramatiq middleware that runs a thread in every worker process, ticking at an interval
while the worker lives: the shape of the reconciler and of the scheduler. A tick that fails
(Redis, the database, SMTP away) is logged and tried again at the next one."""

from __future__ import annotations

import logging
import threading

from dramatiq import Middleware

log = logging.getLogger(__name__)


class PeriodicThread(Middleware):
    #: the thread's name, also in the log line of a skipped tick
    thread_name = "periodic"

    def __init__(self):
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def interval_s(self) -> float:
        raise NotImplementedError

    def tick(self, broker) -> None:
        raise NotImplementedError

    def after_worker_boot(self, broker, worker):
        self.stopped.clear()
        self.thread = threading.Thread(target=self._loop, args=(broker,), name=self.thread_name, daemon=True)
        self.thread.start()

    def before_worker_shutdown(self, broker, worker):
        self.stopped.set()
        if self.thread:
            self.thread.join(timeout=10)

    def _loop(self, broker) -> None:
        while not self.stopped.wait(self.interval_s()):
            try:
                self.tick(broker)
            except Exception as error:  # Redis or the database away: try again next tick
                log.warning("%s pass skipped: %s", self.thread_name, error)
