"""Secrets at rest: passwords through a KDF, random tokens through SHA-256.

API tokens and set-password tokens are 256-bit random values, so a fast hash is enough to
make a stolen table useless; passwords are chosen by people and get werkzeug's scrypt.
"""

from __future__ import annotations

import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash


def new_token(prefix: str = "") -> str:
    """A new random token (32 bytes, URL-safe base64) after `prefix`: for links and API tokens."""
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest of a token: what is stored and looked up instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """A salted scrypt hash of the password, to store on the user."""
    return generate_password_hash(password, method="scrypt")


#: Checked against when there is no hash to check (an unknown login, a customer who has not
#: chosen a password yet), so every failure costs one KDF and the timing tells nothing.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash. With no hash (unknown login, password never
    set) it still runs one KDF against a dummy hash and answers False, so timing tells nothing."""
    if not password_hash:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(password_hash, password)
