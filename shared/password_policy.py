"""Which passwords kamflow accepts, after NIST SP 800-63B (memorized secrets):

- at least 12 characters, at most 256, any characters (spaces and Unicode included);
- no composition rules (no "one digit, one capital"): they make passwords harder to remember
  and barely harder to guess;
- refused when it is common or guessable: zxcvbn, offline, estimates how many guesses an
  attacker with lists of common passwords, words, names, keyboard patterns, dates and
  repetitions would need, counting what they know of this person too (their email, names,
  company) and of the service; under 10^8 guesses (score < 3) is refused;
- the reason is said, so the person knows what to change.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline slow-hash scenario"
SERVICE_WORDS = ("kamflow", "optimization", "energy", "supplier", "customer", "password")


def problem(password: str, context: tuple[str, ...] | list[str] = ()) -> str | None:
    """Why `password` is refused, in words for the person choosing it; None if it is fine.
    `context`: what an attacker would try first for this person (email, names, company)."""
    if len(password) < MIN_LENGTH:
        return (
            f"Use at least {MIN_LENGTH} characters (this one has {len(password)}). Several unrelated words "
            f"make a long password that is easy to remember."
        )
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    hints = [word for value in context if value for word in _words(value)]
    if _only_known_words(password, [*hints, *SERVICE_WORDS]):
        return (
            "This password is too easy to guess: it is built from your own email, name or company, or this "
            "service's name. Add a few unrelated words."
        )
    verdict = zxcvbn(password[:100], user_inputs=[*hints, *SERVICE_WORDS])
    if verdict["score"] >= MIN_SCORE:
        return None
    warning = verdict["feedback"].get("warning") or "It follows a pattern that is easy to guess."
    return f"This password is too easy to guess: {warning.rstrip('.')}. Add a few unrelated words."


def _words(value: str) -> list[str]:
    """The email, and its pieces: an attacker tries "claire", "martin" and "foundry" too."""
    value = value.strip().lower()
    pieces = [value, *value.replace("@", " ").replace(".", " ").replace("-", " ").replace("_", " ").split()]
    return [piece for piece in pieces if len(piece) >= 3]


def _only_known_words(password: str, known: list[str]) -> bool:
    """True when, once the words an attacker knows are taken out, only digits, symbols or a
    few letters are left ("Martin2026!!", "acme-energy1", "Claire.Martin")."""
    rest = password.lower()
    for word in sorted(known, key=len, reverse=True):
        rest = rest.replace(word, "")
    return rest != password.lower() and sum(char.isalpha() for char in rest) < 4
