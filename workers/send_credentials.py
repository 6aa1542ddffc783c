"""Stage 4 (with access only): one email with the login and a one-time set-password link."""

from shared import credentials
from shared.config import Settings
from shared.models import CustomerAccount
from workers.stage_actor import Outcome

STAGE = "send_credentials"


def run(account: CustomerAccount, settings: Settings) -> Outcome:
    try:
        credentials.send_credentials(account, settings)
    except credentials.EmailInFlight as busy:
        return Outcome.wait(str(busy))
    return Outcome.done()
