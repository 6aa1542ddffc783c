"""A worker process killed in the middle of a stage: the account still completes, once.

Real `dramatiq` worker processes on the real Redis: the first is SIGKILLed while it is inside
the SMTP conversation of send_credentials; a second one, started afterwards, finishes the work
(through the reconciler or Redis handing the message back), and the contact gets one email.
"""

from __future__ import annotations

import socket
import threading

import pytest
from support import account_request, set_password_link, wait_drained, wait_until
from worker_processes import WorkerProcess, worker_env

from kamflow.mailcatcher import MailCatcher
from shared import db
from shared.models import StageRun

pytestmark = pytest.mark.slow


class SilentSmtp:
    """Accepts connections and never says a word, like a relay that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self):
        for conn in self.connections:
            conn.close()
        self.sock.close()


def eager_maintenance_env(settings, smtp_url: str) -> dict:
    # Maintenance on one broker command in five (not one in a hundred): the killed worker's
    # unacknowledged message is handed back soon after its heartbeat times out, so the test
    # can wait for the broker to be drained instead of for luck.
    return worker_env(settings, smtp_url, MAINTENANCE_CHANCE="200000")


def send_run(account_id: int) -> StageRun:
    with db.database.connection_context():
        return StageRun.get((StageRun.account == account_id) & (StageRun.stage == "send_credentials"))


def test_worker_killed_mid_stage_the_account_still_completes_with_one_email(
    api, settings, mailbox, redis_client, worker_processes
):
    silent = SilentSmtp()
    first = worker_processes(eager_maintenance_env(settings, silent.url))
    try:
        account_id = api.create(account_request()).get_json()["id"]
        # until the first worker is inside send_credentials (the SMTP server hears from it)
        wait_until(lambda: silent.connections, 20, "the first worker never reached the SMTP server", interval=0.05)
        first.kill()
        stuck = api.get(f"/api/v1/customer-accounts/{account_id}").get_json()
        assert stuck["status"] == "sending_credentials"
        killed_worker = send_run(account_id).worker

        worker_processes(eager_maintenance_env(settings, mailbox.url))
        account = api.wait_for_status(account_id, timeout=40)
        assert account["status"] == "active"
        wait_drained(redis_client, timeout=60)  # the killed worker's message handed back and acked
        assert len(mailbox.messages) == 1
        run = send_run(account_id)
        assert run.attempts >= 2
        assert run.worker != killed_worker  # the operator sees who finished it
    finally:
        silent.close()


class KillOnReceipt(MailCatcher):
    """A mail server that, once it has taken the first message and before answering its 250,
    has the sending worker SIGKILLed: the email is out, and its sender never learns it."""

    def __init__(self):
        super().__init__()
        self.sender: WorkerProcess | None = None

    def _keep(self, recipients, raw: bytes) -> None:
        super()._keep(recipients, raw)
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.kill()


def test_worker_killed_after_the_server_took_the_email_sends_it_again_with_a_new_link_only_once(
    client, api, settings, redis_client, worker_processes
):
    """The one window the outbox cannot close (SMTP has no idempotency key): the server took the
    email, the worker died before recording it. At least once, then: after the claim's lease a
    second worker sends it again, once, with a new set-password link that voids the first."""
    server = KillOnReceipt().start()
    try:
        server.sender = worker_processes(eager_maintenance_env(settings, server.url))
        account_id = api.create(account_request()).get_json()["id"]
        server.wait_for(1, timeout=30)
        wait_until(lambda: server.sender is None, 10, "the sender was not killed")
        assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["status"] == "sending_credentials"

        worker_processes(eager_maintenance_env(settings, server.url))
        assert api.wait_for_status(account_id, timeout=60)["status"] == "active"
        wait_drained(redis_client, timeout=60)
        first, second = server.messages  # exactly two: the one the dead worker sent, and one more
    finally:
        server.stop()
    assert first["To"] == second["To"] == "claire.martin@foundry.example"
    assert client.get(set_password_link(second)).status_code == 200
    assert client.get(set_password_link(first)).status_code == 410  # the link of the first is void
