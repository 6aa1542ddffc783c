"""Email: rendering the credentials message and handing it to an SMTP server (SMTP_URL).

SMTP_URL forms: smtp://host:port (plain), smtp+starttls://user:pass@host:587, smtps://user:pass@host:465.
"""

from __future__ import annotations

import html
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

#: Upper bound of one SMTP conversation step; the stage's time limit caps it further.
SMTP_TIMEOUT_S = 20


def credentials_message(
    *, mail_from: str, to: str, first_name: str, company: str, login: str, link: str, ttl_hours: int
) -> EmailMessage:
    """The customer's welcome: the login and a one-time set-password link, never a password."""
    message = EmailMessage()
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
    message.add_alternative(
        f"""<html><body style="font-family: sans-serif">
<p>Hello {e(first_name)},</p>
<p>Your account for <strong>{e(company)}</strong> is ready.</p>
<p>Login: <strong>{e(login)}</strong></p>
<p><a href="{e(link)}">Choose your password</a> &mdash; the link works once and expires in {ttl_hours} hours.</p>
<p style="color:#666">If this email reached your spam folder, allow emails from {e(mail_from)}
so you keep receiving ours.</p>
</body></html>""",
        subtype="html",
    )
    return message


def send(smtp_url: str, message: EmailMessage, timeout: float = SMTP_TIMEOUT_S) -> None:
    """Deliver `message` through the SMTP server of `smtp_url` (smtp://, smtps:// or
    smtp+starttls://, with optional user:password). Raises ValueError for another scheme, and
    smtplib's/the socket's errors (also after `timeout` seconds) for the caller to retry; returns
    once the server accepted the message."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise ValueError(f"unsupported SMTP_URL scheme {url.scheme!r}")
    host, port = url.hostname or "localhost", url.port
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port or 465, timeout=timeout)
    else:
        client = smtplib.SMTP(host, port or 25, timeout=timeout)
    with client:
        if url.scheme == "smtp+starttls":
            client.starttls()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
