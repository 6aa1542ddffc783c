"""Market services becoming entitlements: what the customer may use, from when to when."""

from __future__ import annotations

from shared import db
from shared.models import CustomerAccount, MarketAccess, utcnow

#: Its SQL generated once: the activate_markets stage runs it for every account.
_ACTIVATE = db.prepared_write(
    lambda: MarketAccess.update(activated_at=db.param("now", MarketAccess.activated_at)).where(
        (MarketAccess.account == db.param("account_id", MarketAccess.account)) & (MarketAccess.activated_at.is_null())
    )
)


def activate_markets(account: CustomerAccount) -> int:
    """Activate every market of the account not active yet; running it twice changes nothing.
    Returns how many were activated now."""
    return _ACTIVATE(now=utcnow(), account_id=account.id)
