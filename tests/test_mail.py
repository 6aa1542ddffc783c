"""Emails go out on a connection kept per worker thread, and never twice because of it.

A real SMTP server (aiosmtpd) on loopback: it counts the connections (one EHLO each) and keeps
the messages it takes.
"""

from __future__ import annotations

import email.generator
import email.policy
import random
import smtplib
import threading

import pytest
from aiosmtpd.controller import Controller

from kamflow.embedded_redis import free_port
from kamflow.mailcatcher import MailCatcher
from shared import mail


class CountingHandler:
    def __init__(self):
        self.connections = 0
        self.quits = 0
        self.messages: list[str] = []
        self.contents: list[bytes] = []  # as received

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.rcpt_tos[0])
        self.contents.append(envelope.original_content)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        return "221 Bye"


@pytest.fixture
def relay():
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def message(to: str):
    return mail.credentials_message(
        mail_from="kamflow@supplier.example",
        to=to,
        first_name="Claire",
        company="Martin Foundry SAS",
        login=to,
        link="http://127.0.0.1/set-password/x",
        ttl_hours=72,
    )


def in_a_thread(work):
    """Each call in a new thread of its own, as a new worker thread would: no connection kept."""
    errors = []

    def run():
        try:
            work()
        except Exception as error:
            errors.append(error)
        finally:
            mail.close_kept()  # as a worker thread does when it stops

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return errors


def test_a_thread_sends_one_email_after_another_on_one_connection(relay):
    controller, handler = relay
    url = f"smtp://127.0.0.1:{controller.port}"

    def three():
        for n in range(3):
            mail.send(url, message(f"customer{n}@foundry.example"))

    assert in_a_thread(three) == []
    assert handler.messages == [f"customer{n}@foundry.example" for n in range(3)]
    assert handler.connections == 1
    assert in_a_thread(lambda: mail.send(url, message("other@foundry.example"))) == []
    assert handler.connections == 2  # another thread, its own connection
    assert handler.quits == 2  # each thread ended its conversation when it stopped


def test_a_relay_restarted_between_two_emails_gets_the_second_once_on_a_new_connection():
    port = free_port()
    url = f"smtp://127.0.0.1:{port}"
    before, after = CountingHandler(), CountingHandler()
    controllers = [Controller(before, hostname="127.0.0.1", port=port)]
    controllers[0].start()

    def two_with_a_restart_between():
        mail.send(url, message("first@foundry.example"))
        controllers[0].stop()  # the kept connection is closed by the server
        controllers[0] = Controller(after, hostname="127.0.0.1", port=port)
        controllers[0].start()
        mail.send(url, message("second@foundry.example"))

    try:
        assert in_a_thread(two_with_a_restart_between) == []
    finally:
        controllers[0].stop()
    assert before.messages == ["first@foundry.example"]
    assert after.messages == ["second@foundry.example"] and after.connections == 1


def test_a_kept_connection_lost_mid_message_raises_and_is_not_retried():
    """Once the content went, the server may have the message: sending it again is for the
    caller's outbox to decide (shared.credentials), not for a silent retry here."""
    catcher = MailCatcher().start()
    errors_seen = []
    try:

        def three():
            mail.send(catcher.url, message("first@foundry.example"))
            catcher.drop_for(2)  # the relay "crashes" after the content, before answering
            with pytest.raises(smtplib.SMTPServerDisconnected):
                mail.send(catcher.url, message("second@foundry.example"))
            catcher.drop_for(0)
            mail.send(catcher.url, message("third@foundry.example"))  # a new connection

        errors_seen = in_a_thread(three)
    finally:
        catcher.stop()
    assert errors_seen == []
    assert [m["To"] for m in catcher.messages] == ["first@foundry.example", "third@foundry.example"]


def test_the_credentials_email_is_received_byte_for_byte_as_the_email_package_writes_it(relay, monkeypatch):
    """Headers parsed once per value and the boundary chosen when composing (shared.mail) make an
    email cheaper to write, never different: the same emails, composed with the stock policy and
    boundary, arrive identical (their date, message id and random boundary fixed).

    The boundaries come from a random source of this test's own, seeded per email: with the
    process-wide one, another thread of the suite drawing from it (Dramatiq's retry backoff
    jitter) between the seed and the generator's draw changed the stock email's boundary."""
    controller, handler = relay
    boundaries = random.Random()
    monkeypatch.setattr(mail, "random", boundaries)  # what shared.mail and the email package draw from
    monkeypatch.setattr(email.generator, "random", boundaries)
    url = f"smtp://127.0.0.1:{controller.port}"
    monkeypatch.setattr(mail, "formatdate", lambda localtime=False: "Thu, 26 Nov 2026 15:00:00 -0000")
    monkeypatch.setattr(mail, "make_msgid", lambda domain=None: f"<1.2.3@{domain}>")
    people = [
        ("kamflow@supplier.example", "claire@foundry.example", "Claire", "Martin Foundry SAS"),
        ("Kamflow <kamflow@supplier.example>", "zoe@foundry.example", "Zoë", "Société d'Électricité & Gaz <SA>"),
        ("kamflow@supplier.example", "long@foundry.example", "Jean-François " * 8, "Müller GmbH " * 12),
    ]

    def send_all():
        for seed, (mail_from, to, first_name, company) in enumerate(people * 2):  # twice: the kept headers serve
            boundaries.seed(seed)
            composed = mail.credentials_message(
                mail_from=mail_from,
                to=to,
                first_name=first_name,
                company=company,
                login=to,
                link="http://127.0.0.1/set-password/x",
                ttl_hours=72,
            )
            mail.send(url, composed)

    assert in_a_thread(send_all) == []
    monkeypatch.setattr(mail, "_POLICY", email.policy.default)
    monkeypatch.setattr(mail, "_boundary", lambda *contents: None)  # the generator picks it when sending
    assert in_a_thread(send_all) == []
    assert len(handler.contents) == 12
    assert handler.contents[:6] == handler.contents[6:]
