"""Stage 2 (with access only): the customer's login, whose email is the account's."""

from shared import access
from shared.config import Settings
from shared.models import CustomerAccount
from workers.stage_actor import Outcome

STAGE = "provision_access"


def run(account: CustomerAccount, settings: Settings) -> Outcome:
    problems = access.provision_login(account)
    return Outcome.reject(problems) if problems else Outcome.done()
