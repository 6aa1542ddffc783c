"""How a webhook delivery is signed: the Standard Webhooks specification (standardwebhooks.com),
so a receiver verifies it with that project's libraries (Python `standardwebhooks`, and its
JavaScript, Go, Java... siblings) instead of code we would have to explain.

- `webhook-id`: the delivery id, the same on every retry (receivers drop ids they have seen);
- `webhook-timestamp`: Unix seconds of this attempt (receivers refuse old ones: replays);
- `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, one per
  secret in force, separated by spaces: two during a rotation's overlap, so a receiver that still
  has the previous secret and one that has the new one both verify;
- the secret is `whsec_` + standard base64 of 24 random bytes; the key is those bytes.

The former `Kamflow-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret string, "<t>." + body)>` (and
`Kamflow-Delivery`, `Kamflow-Event`) are still sent, signed with the current secret, until
`LEGACY_HEADERS_UNTIL`, so receivers written for them keep working while they move over.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: The deprecated headers are sent until this date (inclusive), then removed.
LEGACY_HEADERS_UNTIL = "2027-05-31"
LEGACY_SIGNATURE_HEADER = "Kamflow-Signature"
LEGACY_DELIVERY_HEADER = "Kamflow-Delivery"
LEGACY_EVENT_HEADER = "Kamflow-Event"
SIGNATURE_DOC = (
    f"{SIGNATURE_HEADER}: v1,<base64 HMAC-SHA256(key, '<{ID_HEADER}>.<{TIMESTAMP_HEADER}>.<raw body>')> "
    f"(Standard Webhooks; key = base64-decoded secret after '{SECRET_PREFIX}')"
)


def new_secret() -> str:
    """A new endpoint secret in the Standard Webhooks form: "whsec_" + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_of(secret: str) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret; None for a secret issued before them (not
    standard base64): such an endpoint gets only the legacy header until it is registered again."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True) or None
    except (binascii.Error, ValueError):
        return None


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str | None:
    """The Standard Webhooks signature ("v1,<base64 HMAC-SHA256>") of `message_id`, `timestamp` and
    `body` under `secret`; None when the secret predates the standard (see key_of)."""
    key = key_of(secret)
    if key is None:
        return None
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def legacy_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header of the deliveries before Standard Webhooks ("t=<ts>,v1=<hex
    HMAC-SHA256 of ts.body>"), still sent so receivers verifying it keep working."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def headers(
    message_id: str, event: str, body: bytes, secrets_in_force: list[str], timestamp: int | None = None
) -> dict:
    """The signing headers of one attempt. `secrets_in_force`: the current secret first, then a
    previous one still inside its rotation overlap."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = {ID_HEADER: message_id, TIMESTAMP_HEADER: str(timestamp)}
    signatures = [s for s in (signature(secret, message_id, timestamp, body) for secret in secrets_in_force) if s]
    if signatures:
        signed[SIGNATURE_HEADER] = " ".join(signatures)
    if time.strftime("%Y-%m-%d", time.gmtime(timestamp)) <= LEGACY_HEADERS_UNTIL:
        signed[LEGACY_SIGNATURE_HEADER] = legacy_signature(secrets_in_force[0], timestamp, body)
        signed[LEGACY_DELIVERY_HEADER] = message_id
        signed[LEGACY_EVENT_HEADER] = event
    return signed
