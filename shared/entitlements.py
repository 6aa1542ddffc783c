"""Market services becoming entitlements: what the customer may use, from when to when."""

from __future__ import annotations

from shared.models import CustomerAccount, MarketAccess, utcnow


def activate_markets(account: CustomerAccount) -> int:
    """Activate every market of the account not active yet; running it twice changes nothing.
    Returns how many were activated now."""
    return (
        MarketAccess.update(activated_at=utcnow())
        .where((MarketAccess.account == account.id) & (MarketAccess.activated_at.is_null()))
        .execute()
    )
