"""Server-side revocation of browser sessions: a per-user session version.

Sessions are signed cookies, which the server cannot delete; so each cookie carries the
user's session version as it was at login, and every request compares it with the version in
the database. Ending a user's sessions is one UPDATE that bumps the version: every cookie
issued before — the one just logged out, a copy an attacker kept, the other browser — stops
working at its next request. It is bumped on logout, when a password is set, when the login is
switched off, and when the customer's credentials are re-issued.
"""

from __future__ import annotations

from shared.models import User


def session_id(user: User) -> str:
    """What the session cookie holds to name the user: their id and the current version."""
    return f"{user.id}:{user.session_version}"


def user_for(session_value: str) -> User | None:
    """The active user a session names, or None when it was ended (version moved on), the
    user was switched off, or the value is not one we issued."""
    user_id, _, version = (session_value or "").partition(":")
    if not (user_id.isdigit() and version.isdigit()) or len(user_id) > 18 or len(version) > 18:
        return None
    return User.get_or_none((User.id == int(user_id)) & (User.session_version == int(version)) & (User.active == True))  # noqa: E712


def end_sessions(user_id: int) -> None:
    """End every session of the user, on every device. Call inside the change's transaction."""
    User.update(session_version=User.session_version + 1).where(User.id == user_id).execute()
