"""Stage 1: the authoritative business checks, against the database.

The request's shape was checked at the door; here we check what depends on the organisation's
data and on other accounts, then reserve the email and the reference. Any problem rejects the
account, with every reason, as a final state.
"""

from shared import rules
from shared.config import Settings
from shared.models import CustomerAccount
from workers.stage_actor import Outcome

STAGE = "validate_customer"


def run(account: CustomerAccount, settings: Settings) -> Outcome:
    problems = rules.account_problems(account)
    if not problems:
        problems = rules.claim_identity(account)
    return Outcome.reject(problems) if problems else Outcome.done()
