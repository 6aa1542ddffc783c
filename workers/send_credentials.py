"""Stage 4 (with access only): one email with the login and a one-time set-password link."""

from shared import credentials, resend
from shared.config import Settings
from shared.models import CustomerAccount
from workers.stage_actor import Outcome

STAGE = "send_credentials"


def run(account: CustomerAccount, settings: Settings) -> Outcome:
    try:
        # The first email, or the N-th resend a KAM asked for: each purpose is sent once.
        email = credentials.prepare_credentials(account, settings, purpose=resend.credentials_purpose)
    except credentials.EmailInFlight as busy:
        return Outcome.wait(str(busy))
    return Outcome.done(email)  # None: sent already, done without sending
