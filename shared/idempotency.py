"""Idempotency keys, as integrators know them from payment APIs.

The first request with a key stores its answer (status and body) in the same transaction as
the account it created; the same key with the same body gets that answer again, for as long
as the key is kept (at least KEY_TTL), and creates nothing. The same key with another body is
refused. The unique (organisation, key) index settles two concurrent first requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from shared import schemas
from shared.db import Prepared, param
from shared.models import IdempotencyKey, utcnow

KEY_TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255


def key_problem(key: str) -> str | None:
    """Why `key` (an Idempotency-Key, spaces around it already stripped) cannot be one, or None.
    A control character is refused rather than stored: a key is printed in logs and compared
    byte for byte, and a CRM that sends one has a bug worth hearing about."""
    if len(key) > MAX_KEY_LENGTH:
        return f"Must be at most {MAX_KEY_LENGTH} characters."
    if schemas.has_refused_characters(key):
        return "Must hold printable characters only (no control characters)."
    return None


def fingerprint(body: object) -> str:
    """The same JSON document gives the same fingerprint, whatever its key order or spacing.
    A lone surrogate is valid JSON ("\\ud800") but not UTF-8: it is hashed as its code point
    (surrogatepass), so such a body is fingerprinted rather than a 500."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def form_version(shown: object) -> str:
    """The version a form carries of what it was made from (JSON-able values), in a few
    characters: the edit pages' parameters (shared.parameters.version, editing.version) and the
    wizard's step 1. Sent back with the form, it tells a page left open in another tab from one
    made from what is stored now."""
    return fingerprint(shown)[:20]


def lookup(organisation_id: int, key: str) -> IdempotencyKey | None:
    """The stored first answer of the organisation's request with this Idempotency-Key, or None.
    Expired keys are found until `purge_expired` removes them."""
    return _LOOKUP.first(organisation_id=organisation_id, key=key)


_LOOKUP = Prepared(
    lambda: IdempotencyKey.select().where(
        (IdempotencyKey.organisation == param("organisation_id", IdempotencyKey.organisation))
        & (IdempotencyKey.key == param("key", IdempotencyKey.key))
    )
)


def remember(
    organisation_id: int, key: str, request_hash: str, status: int, body: dict, account_id: int | None
) -> IdempotencyKey:
    """The first answer's record, unsaved: the caller writes it with the account it created
    (shared.accounts.store_account), so that neither is stored without the other."""
    return IdempotencyKey(
        organisation=organisation_id,
        key=key,
        request_hash=request_hash,
        response_status=status,
        response_body=body,
        account=account_id,
    )


def purge_expired() -> int:
    """Forget keys older than KEY_TTL (a maintenance job may call it; keeping them longer is harmless)."""
    return IdempotencyKey.delete().where(IdempotencyKey.created_at < utcnow() - KEY_TTL).execute()
