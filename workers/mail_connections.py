"""Each worker thread keeps its SMTP connection from one email to the next (shared.mail); this
middleware closes it when the thread stops, in that thread, the only one allowed to touch it."""

from __future__ import annotations

from dramatiq import Middleware

from shared import mail


class CloseMailConnections(Middleware):
    def before_worker_thread_shutdown(self, broker, thread):
        mail.close_kept()
