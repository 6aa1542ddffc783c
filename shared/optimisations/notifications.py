"""Fixing-advice notices: an advised fixing date is emailed one working day ahead to the
recipients the optimisation names, once per advice.

"Once" is the outbox's (shared.credentials.claim): one row per (account, purpose) where the
purpose names the optimisation, the advised date and the recipient, claimed before sending and
marked sent after. The workers' scheduler calls `send_due` on every tick; a tick that finds
nothing new sends nothing, an SMTP failure leaves the row pending for the next tick.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from shared import credentials, mail, workflow
from shared.config import Settings
from shared.models import CustomerAccount, Optimisation, User
from shared.optimisations import limits, reading

log = logging.getLogger(__name__)


def next_working_day(today: dt.date) -> dt.date:
    """The first Monday-to-Friday day after `today` (bank holidays are not known)."""
    day = today + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def due_dates(today: dt.date) -> tuple[dt.date, ...]:
    """Advice dates to announce today: those up to the next working day (on a Friday, the
    weekend's and Monday's). Nothing is announced on a weekend day."""
    if today.weekday() >= 5:
        return ()
    last = next_working_day(today)
    return tuple(today + dt.timedelta(days=n) for n in range(1, (last - today).days + 1))


def _recipients(optimisation: Optimisation, today: dt.date) -> list[tuple[str, str, str]]:
    """(role, email, side) of each recipient who may receive advice today."""
    account = optimisation.account
    found = []
    for role in optimisation.notify_recipients or []:
        if role == "kam":
            found.append(("kam", account.kam.email, limits.KAM))
        elif role == "customer" and account.app_access and account.user_id:
            user = User.get_by_id(account.user_id)
            sight = limits.sight(account, optimisation.market, limits.CUSTOMER, today)
            if user.active and sight.forecast and sight.frozen_at is None:
                found.append(("customer", account.email, limits.CUSTOMER))
    return found


def notice(settings: Settings, optimisation: Optimisation, entry: dict, to: str, side: str) -> EmailMessage:
    """The advice email of one calendar `entry` for recipient `to` on `side` (its link goes to
    that side's page). Builds it only: sending is the caller's."""
    account = optimisation.account
    path = (
        f"/customers/{account.id}/optimisations/{optimisation.id}"
        if side == limits.KAM
        else f"/my-account/optimisations/{optimisation.id}"
    )
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    message["Subject"] = f"Fixing advice for {entry['date']:%A %d %B %Y}: {optimisation.name}"
    message.set_content(
        f'Fixing advice for {account.company}, optimisation "{optimisation.name}" ({optimisation.market}):\n\n'
        f"On {entry['date']:%A %d %B %Y}, fix {entry['share_pct']:.2f} % of the volume ({entry['volume_mwh']} MWh).\n\n"
        f"The calendar of fixing advice: {settings.public_base_url}{path}\n\n"
        f"You receive this email because notifications are on for this optimisation.\n"
    )
    return message


def send_due(settings: Settings, today: dt.date) -> int:
    """Email every advice due on the next working day that was not emailed yet; returns how many
    were sent now."""
    dates = due_dates(today)
    if not dates:
        return 0
    sent = 0
    query = (
        Optimisation.select()
        .join(CustomerAccount)
        .where(Optimisation.notify & (CustomerAccount.status == workflow.ACTIVE))
    )
    for optimisation in query:
        for role, email, side in _recipients(optimisation, today):
            calendar = reading.calendar_for(optimisation, side, today)
            for entry in calendar["entries"]:
                if entry["status"] != "to_do" or entry["date"] not in dates:
                    continue
                purpose = f"advice:{optimisation.id}:{entry['date'].isoformat()}:{role}"
                try:
                    outbox = credentials.claim(optimisation.account, purpose, settings, recipient=email)
                except credentials.EmailInFlight:
                    continue
                if outbox is None:
                    continue  # announced already
                try:
                    mail.send(settings.smtp_url, notice(settings, optimisation, entry, email, side))
                except Exception as error:
                    credentials.release(outbox, error)
                    log.warning("fixing notice %s not sent (%s); the next tick tries again", purpose, error)
                    continue
                credentials.mark_sent(outbox, settings)
                sent += 1
    return sent
