"""The set-password link: once, before it expires, and never for a forged form."""

from __future__ import annotations

import datetime as dt

from csrf import csrf_token

from shared import access, db
from shared.models import SetPasswordToken, User, utcnow


def customer_with_link(org) -> tuple[User, str]:
    with db.database.connection_context():
        user = User.create(organisation=org["organisation"], email="claire@foundry.example", role="customer")
        return user, access.issue_set_password_token(user.id, ttl_hours=72)


def form_token(page: str) -> str:
    return csrf_token(page)


def test_an_expired_link_is_refused_and_says_so(client, org):
    user, token = customer_with_link(org)
    with db.database.connection_context():
        SetPasswordToken.update(expires_at=utcnow() - dt.timedelta(minutes=1)).execute()
    page = client.get(f"/set-password/{token}")
    assert page.status_code == 410 and "expired" in page.text
    assert (
        client.post(f"/set-password/{token}", data={"password": "x" * 12, "confirm": "x" * 12}).status_code == 400
    )  # no CSRF token
    with db.database.connection_context():
        assert User.get_by_id(user.id).password_hash is None


def test_a_new_link_voids_the_previous_one(client, org):
    user, first = customer_with_link(org)
    with db.database.connection_context():
        second = access.issue_set_password_token(user.id, ttl_hours=72)
    assert client.get(f"/set-password/{first}").status_code == 410
    assert client.get(f"/set-password/{second}").status_code == 200


def test_an_unknown_link_is_refused(client, org):
    page = client.get("/set-password/not-a-real-token")
    assert page.status_code == 410 and "not valid" in page.text


def test_mismatched_passwords_are_shown_next_to_the_field(client, org):
    _, token = customer_with_link(org)
    page = client.get(f"/set-password/{token}")
    answer = client.post(
        f"/set-password/{token}",
        data={"csrf_token": form_token(page.text), "password": "a-long-secret-1", "confirm": "a-long-secret-2"},
    )
    assert answer.status_code == 200
    assert 'id="confirm-error">The two passwords differ.' in answer.text
    assert client.get(f"/set-password/{token}").status_code == 200  # still usable
