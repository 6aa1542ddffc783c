"""Passwords after NIST SP 800-63B: at least 12 characters, no composition rules, common and
guessable ones refused offline, and the reason said — on the set-password page and for staff."""

from __future__ import annotations

import re

import pytest
from csrf import csrf_token

from shared import access, db, password_policy
from shared.models import User

GUESSABLE = [
    "aaaaaaaaaaaa",
    "password1234",
    "Password123!",
    "qwertyuiop12",
    "123456789012",
    "iloveyou2024",
    "abcdefghijkl",
    "Claire.Martin",
    "martinfoundry",
    "kamflow12345",
]
FINE = [
    "violet-harbour-lantern-42",
    "correct horse battery",
    "meine kleine Möwe fliegt",
    "zq7#lowercase-only",
    "ALLCAPS WORDS STILL FINE",
]


@pytest.mark.parametrize("password", GUESSABLE)
def test_common_and_guessable_passwords_are_refused_with_a_reason(password):
    reason = password_policy.problem(password, ("claire.martin@foundry.example", "Claire", "Martin", "Martin Foundry"))
    assert reason and ("guess" in reason or "at least 12" in reason)


@pytest.mark.parametrize("password", ["short", "elevenchars", "ëxotic-1"])
def test_fewer_than_twelve_characters_are_refused_saying_how_many(password):
    assert f"this one has {len(password)}" in password_policy.problem(password)


@pytest.mark.parametrize("password", FINE)
def test_no_composition_rules_a_long_unguessable_password_passes(password):
    assert password_policy.problem(password) is None


def test_too_long_is_refused():
    assert "at most 256" in password_policy.problem("word-" * 60)


def _page(client, org):
    with db.database.connection_context():
        user = User.create(
            organisation=org["organisation"],
            email="claire.martin@foundry.example",
            role="customer",
            first_name="Claire",
            last_name="Martin",
        )
        return user, f"/set-password/{access.issue_set_password_token(user.id, ttl_hours=1)}"


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "claire.martin@foundry", "password12", "Martin2026!!"])
def test_the_set_password_page_refuses_a_weak_password_by_the_field(client, org, password):
    user, link = _page(client, org)
    page = client.get(link)
    token = csrf_token(page.text)
    answer = client.post(link, data={"csrf_token": token, "password": password, "confirm": password})
    assert answer.status_code == 200
    message = re.search(r'<p class="error" id="password-error">(.*?)</p>', answer.text, flags=re.S).group(1)
    assert "guess" in message or "at least 12" in message
    with db.database.connection_context():
        assert User.get_by_id(user.id).password_hash is None


def test_staff_passwords_follow_the_same_rule(kamflow, org):
    refused = kamflow(
        "create-user",
        "--org",
        "acme-energy",
        "--email",
        "new@acme-energy.example",
        "--role",
        "kam",
        "--password",
        "acme-energy1",
    )
    assert refused.exit_code == 1 and "too easy to guess" in refused.output
    made = kamflow(
        "create-user",
        "--org",
        "acme-energy",
        "--email",
        "new@acme-energy.example",
        "--role",
        "kam",
        "--password",
        "violet-harbour-lantern-42",
    )
    assert made.exit_code == 0, made.output
