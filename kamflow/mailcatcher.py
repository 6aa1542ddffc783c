"""A local SMTP server (aiosmtpd) that keeps what it receives instead of delivering it.

`kamflow run` uses it when SMTP_URL is not set: each message is written to var/mail/*.eml and
summarised, with its text part, on the console. The tests use it to see the mail a customer gets.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from kamflow.embedded_redis import free_port

log = logging.getLogger("kamflow.mail")


#: What a busy relay answers: try again later.
TEMPORARY_REFUSAL = "451 4.3.0 Temporarily unable to accept mail, try again later"


class MailTimeout(AssertionError):
    """Fewer messages arrived than a test waited for."""


class _Handler:
    def __init__(self, catcher: MailCatcher):
        self.catcher = catcher

    async def handle_DATA(self, server, session, envelope):
        if self.catcher._dropping():
            server.transport.abort()  # gone mid-conversation: the message was not taken
            return "421 4.3.0 Closing connection"
        if self.catcher.delay_s:
            await asyncio.sleep(self.catcher.delay_s)
        refusal = self.catcher._take_refusal()
        if refusal:
            return refusal
        self.catcher._keep(envelope.rcpt_tos, envelope.content)
        return "250 OK"


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


class MailCatcher:
    def __init__(
        self, directory: Path | str | None = None, port: int | None = None, echo: bool = False, delay_s: float = 0.0
    ):
        self.directory = Path(directory) if directory else None
        #: Seconds before each message is accepted, as a busy relay takes: keeps stages in flight.
        self.delay_s = delay_s
        self.port = port or free_port()
        self.echo = echo
        #: What arrived, as received; parsed on the first read of `messages` (see there).
        self._received: list[bytes] = []
        self._parsed: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._refusals = 0
        self._refusal_reply = TEMPORARY_REFUSAL
        self._refuse_until = 0.0
        self._drop_until = 0.0
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> MailCatcher:
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        """Every message received so far, parsed, in the order they arrived.

        Parsed when read, not when received: parsing took two thirds of the catcher's time per
        message, spent while the senders wait for its 250 (and, in `make bench`, on the cores the
        workers it measures run on), for messages most runs only count."""
        with self._lock:
            for raw in self._received[len(self._parsed) :]:
                self._parsed.append(_parse(raw))
            return list(self._parsed)

    def _keep(self, recipients, raw: bytes) -> None:
        with self._arrived:
            self._received.append(raw)
            number = len(self._received)
            self._arrived.notify_all()
        if self.directory:
            path = self.directory / f"{number:05d}-{recipients[0]}.eml"
            path.write_bytes(raw)
        if self.echo:
            message = _parse(raw)
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content().replace("\r\n", "\n") if body else ""
            log.info("mail to %s: %s\n%s", ", ".join(recipients), message["Subject"], text)

    def refuse_next(self, count: int, reply: str = TEMPORARY_REFUSAL) -> None:
        """Answer the next `count` messages with `reply`: by default a temporary failure (451), as
        a busy relay would; a 5xx refuses them for good (no such mailbox, content refused)."""
        with self._lock:
            self._refusals, self._refusal_reply = count, reply

    def refuse_for(self, seconds: float) -> None:
        """Answer every message with 451 for `seconds`, as a relay under maintenance would."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds

    def drop_for(self, seconds: float) -> None:
        """For `seconds`, close the connection once the message's content has been sent, before
        answering: the client cannot know, the message is not kept (a relay that crashed)."""
        with self._lock:
            self._drop_until = time.monotonic() + seconds

    def _dropping(self) -> bool:
        with self._lock:
            return time.monotonic() < self._drop_until

    def _take_refusal(self) -> str | None:
        """The reply refusing this message, or None to take it."""
        with self._lock:
            if time.monotonic() < self._refuse_until:
                return TEMPORARY_REFUSAL
            if self._refusals > 0:
                self._refusals -= 1
                return self._refusal_reply
            return None

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        """Block until at least `count` messages arrived and return them all; raise
        MailTimeout if they have not within `timeout` seconds. (To show that no more will
        come, wait until the senders are done, then read `messages`; waiting here cannot.)"""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._received) >= count, timeout=timeout):
                raise MailTimeout(f"{len(self._received)} message(s) arrived within {timeout} s, not {count}")
        return self.messages

    def count(self) -> int:
        with self._lock:
            return len(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._parsed.clear()
            self._refusals, self._refusal_reply = 0, TEMPORARY_REFUSAL
            self._refuse_until = self._drop_until = 0.0
