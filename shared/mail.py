"""Email: rendering the credentials message and handing it to an SMTP server (SMTP_URL), on a
connection each thread keeps for its next message.

SMTP_URL forms: smtp://host:port (plain), smtp+starttls://user:pass@host:587, smtps://user:pass@host:465.
"""

from __future__ import annotations

import html
import random
import smtplib
import sys
import threading
from collections.abc import Sequence
from email import headerregistry, policy
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

#: Upper bound of one SMTP conversation step; the stage's time limit caps it further.
SMTP_TIMEOUT_S = 20


#: Headers whose values repeat from one message to the next (the sender, the MIME headers
#: `set_content` writes): parsed once per value (`_HeaderClasses`).
_REPEATED = frozenset({"from", "mime-version", "content-type", "content-transfer-encoding"})
#: How many such parsed values a process keeps, whatever it sends.
_MAX_PARSED = 64


class _FoldedOnce(headerregistry.BaseHeader):
    """A header kept parsed for its value (`_HeaderClasses`), folded once per way of folding:
    folding depends on the header and on the policy's line length, line separator and utf8 only."""

    _folds: dict[tuple, str]

    # An EmailPolicy's registry makes these headers, and only an EmailPolicy folds them (typeshed says Policy).
    def fold(self, *, policy: EmailPolicy) -> str:  # type: ignore[override]
        key = (policy.max_line_length, policy.linesep, policy.utf8)
        folded = self._folds.get(key)
        if folded is None:
            folded = self._folds[key] = super().fold(policy=policy)
        return folded


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The standard header registry, each header's class made once: the stock one makes a new
    class (type(...)) for every header it is given, a fifth of the time composing an email took.

    It also parses a value of the headers in `_REPEATED` once: parsing headers was two thirds of
    composing the credentials email, and ten of its fifteen are the same in every one. A parsed
    header is immutable (a str, its parse tree only read when folded), so messages share it. A
    Content-Type with a boundary is not kept: the boundary is new in every message."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}
        self._kept: dict[str, type] = {}
        self._parsed: dict[tuple[str, str], headerregistry.BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: object) -> headerregistry.BaseHeader:
        lower = name.lower()
        if lower not in _REPEATED or not isinstance(value, str) or "boundary=" in value.lower():
            return self[name](name, value)
        header = self._parsed.get((name, value))
        if header is None:
            kept = self._kept.get(lower)
            if kept is None:
                kept = self._kept[lower] = type(self[name].__name__, (_FoldedOnce, self[name]), {})
            header = kept(name, value)
            header._folds = {}
            if len(self._parsed) < _MAX_PARSED:
                self._parsed[(name, value)] = header
        return header


#: email.policy.default, with the header classes made once.
_POLICY = policy.default.clone(header_factory=_HeaderClasses())


def credentials_message(
    *, mail_from: str, to: str, first_name: str, company: str, login: str, link: str, ttl_hours: int
) -> EmailMessage:
    """The customer's welcome: the login and a one-time set-password link, never a password."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)  # spam filters expect both
    message["Subject"] = f"Your access to the energy optimisation application ({company})"
    text = (
        f"Hello {first_name},\n\n"
        f"Your account for {company} is ready.\n\n"
        f"Login: {login}\n\n"
        f"Choose your password here (the link works once and expires in {ttl_hours} hours):\n"
        f"{link}\n\n"
        f"If this email reached your spam folder, allow emails from {mail_from} so you keep receiving ours.\n"
    )
    message.set_content(text)
    e = html.escape
    page = f"""<html><body style="font-family: sans-serif">
<p>Hello {e(first_name)},</p>
<p>Your account for <strong>{e(company)}</strong> is ready.</p>
<p>Login: <strong>{e(login)}</strong></p>
<p><a href="{e(link)}">Choose your password</a> &mdash; the link works once and expires in {ttl_hours} hours.</p>
<p style="color:#666">If this email reached your spam folder, allow emails from {e(mail_from)}
so you keep receiving ours.</p>
</body></html>"""
    message.add_alternative(page, subtype="html")
    boundary = _boundary(text, page)
    if boundary is not None:
        message.set_boundary(boundary)
    return message


#: The width of the random token in the email package's generator's boundaries.
_TOKEN_WIDTH = len(repr(sys.maxsize - 1))


def _boundary(*contents: str) -> str | None:
    """The boundary the generator would give a multipart message of `contents` when sending it
    (same format, same random source), or None where it occurs in one of them (the generator
    then picks another, as it always did). The generator checks its own against the flattened
    parts with a regular expression compiled anew for every message: a sixth of the time an
    email took. A line of a part's text can be the boundary only if its content holds it: the
    other transfer encodings (quoted-printable, base64) write no run of "="."""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_TOKEN_WIDTH}d}" + "=="
    return None if any(boundary in content for content in contents) else boundary


class _Stale(Exception):
    """A connection failed at the first command of a message: nothing of it was sent.
    `error` is what smtplib would have raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _SMTP(smtplib.SMTP):
    """An SMTP client kept open for the next message. The server may have closed it meanwhile
    (an idle timeout, a limit of messages per connection): that shows at MAIL FROM, the first
    command of a message, and only there may the message go on a new connection at once."""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        try:
            code, reply = super().mail(sender, options)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise _Stale(error) from error
        if code == 421:  # "service not available, closing": the server is done with this connection
            raise _Stale(smtplib.SMTPSenderRefused(code, reply, sender))
        return code, reply


class _SMTP_SSL(_SMTP, smtplib.SMTP_SSL):
    pass


#: Per thread, the connection of each SMTP_URL it sent to: a worker thread sends one message
#: after another, and a connection, with its greeting, TLS and login, costs more than a message.
_kept = threading.local()


def _connect(smtp_url: str, timeout: float) -> smtplib.SMTP:
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise ValueError(f"unsupported SMTP_URL scheme {url.scheme!r}")
    host, port = url.hostname or "localhost", url.port
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = _SMTP_SSL(host, port or 465, timeout=timeout)
    else:
        client = _SMTP(host, port or 25, timeout=timeout)
    try:
        if url.scheme == "smtp+starttls":
            client.starttls()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
    except BaseException:
        client.close()
        raise
    return client


def send(smtp_url: str, message: EmailMessage, timeout: float = SMTP_TIMEOUT_S) -> None:
    """Deliver `message` through the SMTP server of `smtp_url` (smtp://, smtps:// or
    smtp+starttls://, with optional user:password), on this thread's connection to it (opened if
    there is none). Raises ValueError for another scheme, and smtplib's/the socket's errors (also
    after `timeout` seconds) for the caller to retry; returns once the server accepted the
    message. A connection that failed is closed, never used again; a kept one that the server
    had closed before the message began is replaced once, at once."""
    if not hasattr(_kept, "connections"):
        _kept.connections = {}
    connections: dict[str, smtplib.SMTP] = _kept.connections
    client = connections.pop(smtp_url, None)
    if client is not None:
        try:
            if client.sock is not None:  # a kept connection is open; the timeout is this message's
                client.sock.settimeout(timeout)
            client.send_message(message)
        except _Stale:
            client.close()
            client = None
        except BaseException:
            client.close()
            raise
        else:
            connections[smtp_url] = client
            return
    client = _connect(smtp_url, timeout)
    try:
        client.send_message(message)
    except _Stale as stale:  # on a new connection, an error like any other
        client.close()
        raise stale.error from None
    except BaseException:
        client.close()
        raise
    connections[smtp_url] = client


class RefusedForNow(Exception):
    """The SMTP server refused the message for now (a 4xx): a later try may get it through.
    str() is the server's reply as text, for the stage's error."""


def refusal(error: BaseException) -> tuple[bool, str] | None:
    """If `error` is an SMTP server refusing the message: whether for good (a 5xx: no such
    mailbox, the sender or the content refused, the login wrong) and its reply as text, e.g.
    (True, "550 5.1.1 <x@example.com>: mailbox unavailable"). None for anything else (a
    connection lost or refused, a timeout), which a later try may mend too."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):  # every recipient refused, each with its reply
        replies = list(error.recipients.values())
        if not replies:
            return None
        return all(code >= 500 for code, _ in replies), "; ".join(_reply(code, text) for code, text in replies)
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 400:
        return error.smtp_code >= 500, _reply(error.smtp_code, error.smtp_error)
    return None


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"


def close_kept() -> None:
    """Close the connections this thread kept (QUIT, or just the socket if the server is gone).
    A thread that stops sending calls it — a worker thread at shutdown, the scheduler's thread
    when it ends — so no connection outlives the thread that alone may use it."""
    connections: dict[str, smtplib.SMTP] = getattr(_kept, "connections", {})
    while connections:
        _, client = connections.popitem()
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
