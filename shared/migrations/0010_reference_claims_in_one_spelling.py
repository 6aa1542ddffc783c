"""Customer references are claimed in one spelling (`shared.claims.reference_claim`): the
claims stored as typed are rewritten, so "FR-000123" already held keeps "fr-000123" or
"ＦＲ－０００１２３" from being claimed beside it.

Two live accounts of an organisation may already hold spellings that are now one claim: the
earlier account (lower id) keeps it, the later holds none (its reference as typed stays, shown
as before; the earlier one's claim still refuses the reference to new requests). Rewritten in
one transaction, the clashing claims cleared first, so the unique index never sees two at once.

Processes of the previous release, still running during a rolling upgrade, compare the typed
reference with the claims: a request they take may claim another spelling beside a rewritten
one, as it could before. `down` leaves the claims as they are: they are valid claims to the
previous release too.
"""

import hashlib
import unicodedata

from peewee import *

#: A copy of shared.claims.reference_claim as of this migration: it must mean this forever.
MAX_CLAIM_LENGTH = 64


def claim(reference):
    if not reference:
        return None
    spelled = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", reference).casefold())
    if len(spelled) > MAX_CLAIM_LENGTH:
        spelled = "#" + hashlib.sha256(spelled.encode()).hexdigest()[: MAX_CLAIM_LENGTH - 1]
    return spelled


def up(migrator, db):
    rows = db.execute_sql(
        "SELECT id, organisation_id, reference_claim FROM customer_account "
        "WHERE reference_claim IS NOT NULL ORDER BY id"
    ).fetchall()
    wanted, held = {}, set()
    for account_id, organisation_id, stored in rows:
        new = claim(stored)
        if (organisation_id, new) in held:
            new = None  # an earlier account holds this spelling
        else:
            held.add((organisation_id, new))
        if new != stored:
            wanted[account_id] = new
    update = f"UPDATE customer_account SET reference_claim = {db.param} WHERE id = {db.param}"
    with db.atomic():
        for account_id in wanted:
            db.execute_sql(update, (None, account_id))
        for account_id, new in wanted.items():
            if new is not None:
                db.execute_sql(update, (new, account_id))


def down(migrator, db):
    pass
