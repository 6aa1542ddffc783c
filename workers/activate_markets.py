"""Stage 3 (with access only): the selected markets become the customer's entitlements."""

from shared import entitlements
from shared.config import Settings
from shared.models import CustomerAccount
from workers.stage_actor import Outcome

STAGE = "activate_markets"


def run(account: CustomerAccount, settings: Settings) -> Outcome:
    entitlements.activate_markets(account)
    return Outcome.done()
