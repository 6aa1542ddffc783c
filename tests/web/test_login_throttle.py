"""Guessing passwords at /login: backoff, then a lock with a clear message, counted in Redis
across gateway processes, per account and per client address; every attempt audited; an
operator sees and lifts a lock. A login without a password costs as long as a wrong one."""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time

import pytest
from browser import Browser, text_of
from csrf import csrf_token
from support import PASSWORD

from shared import db, security
from shared.models import LoginEvent, User

KAM = "kam@acme-energy.example"


def attempt(app, email, password, address="127.0.0.1"):
    browser = Browser(app.test_client())
    return browser.post_form("/login", {"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def test_backoff_then_lock_then_an_operator_lifts_it(app, settings, broker, org, kamflow):
    from gateway import create_app

    second_gateway = create_app(settings, broker=broker)  # another process's view: the count is in Redis
    answers = [attempt(app if n % 2 else second_gateway, KAM, f"guess-{n}") for n in range(12)]
    codes = [answer.status_code for answer in answers]
    assert codes[:3] == [401, 401, 401]  # checked and wrong
    assert set(codes[3:]) == {429}  # refused unchecked: backoff, then the lock
    assert "wait" in text_of(answers[3].text) and "seconds" in text_of(answers[3].text)
    locked = attempt(app, KAM, PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert "locked for the next 15 minutes" in text_of(locked.text) and "operator" in text_of(locked.text)

    listing = kamflow("login-locks").output
    assert KAM in listing and "account" in listing
    assert kamflow("unlock-login", KAM).exit_code == 0
    assert "no login is locked" in kamflow("login-locks").output
    assert attempt(second_gateway, KAM, PASSWORD).status_code == 302

    with db.database.connection_context():
        outcomes = [e.outcome for e in LoginEvent.select().where(LoginEvent.email == KAM).order_by(LoginEvent.id)]
    assert outcomes[:3] == ["failure"] * 3 and outcomes[-1] == "success"
    assert {"throttled", "locked"} <= set(outcomes)
    events = kamflow("login-events", "--email", KAM).output
    assert "success" in events and "failure" in events and "127.0.0.1" in events


def test_an_address_guessing_many_accounts_is_locked(settings, broker, org):
    from gateway import create_app

    app = create_app(dataclasses.replace(settings, login_address_lock_after=5), broker=broker)
    for n in range(5):
        assert attempt(app, f"nobody{n}@acme-energy.example", "guess", address="203.0.113.9").status_code == 401
    refused = attempt(app, KAM, PASSWORD, address="203.0.113.9")
    assert refused.status_code == 429 and "from your network" in text_of(refused.text)
    assert attempt(app, KAM, PASSWORD, address="198.51.100.7").status_code == 302  # another address is not


def _at_once(app, logins: list[tuple[str, str]], address: str) -> list[int]:
    """Post every (email, password) to /login at the same moment, each from its own browser
    that loaded the page first; the answers' status codes."""
    browsers = []
    for _ in logins:
        browser = Browser(app.test_client())
        browsers.append((browser, csrf_token(browser.get("/login").text)))
    start = threading.Barrier(len(logins))
    codes: list[int] = []

    def post(n: int) -> None:
        (browser, token), (email, password) = browsers[n], logins[n]
        start.wait()
        answer = browser.client.post(
            "/login",
            data={"csrf_token": token, "email": email, "password": password},
            environ_base={"REMOTE_ADDR": address},
        )
        codes.append(answer.status_code)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(logins))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_guesses_sent_at_once_are_throttled_as_if_sent_one_by_one(app, org):
    codes = _at_once(app, [(KAM, f"guess-{n}") for n in range(30)], "198.51.100.7")
    assert codes.count(401) == 3  # LOGIN_BACKOFF_AFTER checked, as one after another
    assert codes.count(429) == 27  # the rest refused unchecked
    with db.database.connection_context():
        failures = LoginEvent.select().where((LoginEvent.email == KAM) & (LoginEvent.outcome == "failure")).count()
    assert failures == 3


def test_guesses_at_many_accounts_at_once_lock_the_address_at_its_limit(settings, broker, org):
    from gateway import create_app

    app = create_app(dataclasses.replace(settings, login_address_lock_after=5), broker=broker)
    codes = _at_once(app, [(f"nobody{n}@acme-energy.example", "guess") for n in range(20)], "203.0.113.9")
    assert codes.count(401) == 5 and codes.count(429) == 15
    refused = attempt(app, KAM, PASSWORD, address="203.0.113.9")
    assert refused.status_code == 429 and "from your network" in text_of(refused.text)


def test_successful_logins_from_one_address_never_lock_it(settings, broker, org):
    from gateway import create_app

    app = create_app(dataclasses.replace(settings, login_address_lock_after=3), broker=broker)
    for _ in range(6):  # an office behind one address: each attempt counted, then given back
        assert attempt(app, KAM, PASSWORD, address="192.0.2.44").status_code == 302
    assert attempt(app, "nobody@acme-energy.example", "guess", address="192.0.2.44").status_code == 401
    assert attempt(app, KAM, PASSWORD, address="192.0.2.44").status_code == 302


def test_an_unknown_login_and_a_success_are_throttled_alike(app, org):
    """Locks are counted for the email typed, existing or not: a lock does not reveal a login."""
    for n in range(3):
        assert attempt(app, "ghost@acme-energy.example", f"guess-{n}").status_code == 401
    assert attempt(app, "ghost@acme-energy.example", "guess").status_code == 429
    assert attempt(app, KAM, PASSWORD).status_code == 302  # the other account is untouched


def test_a_login_without_a_password_takes_as_long_as_a_wrong_password(org):
    with db.database.connection_context():
        User.create(organisation=org["organisation"], email="nopass@acme-energy.example", role="customer")

    def duration(password_hash):
        started = time.perf_counter()
        assert security.password_matches(password_hash, "some-guess-here") is False
        return time.perf_counter() - started

    real = security.hash_password("another-password-entirely")
    with_hash = statistics.median(duration(real) for _ in range(5))
    without = statistics.median(duration(None) for _ in range(5))
    assert without > with_hash * 0.5


@pytest.mark.parametrize("email", ["nopass@acme-energy.example", "unknown@acme-energy.example"])
def test_the_login_page_answers_no_hash_and_unknown_the_same(app, org, email):
    with db.database.connection_context():
        User.get_or_create(organisation=org["organisation"], email="nopass@acme-energy.example", role="customer")
    answer = attempt(app, email, "whatever-password")
    assert answer.status_code == 401 and "The email or the password is not right." in text_of(answer.text)


@pytest.mark.parametrize("email", [KAM + "\x00", "kam\x00@acme-energy.example", "\x00"])
def test_an_email_with_a_nul_is_a_failed_login_counted_by_the_throttle(app, org, email):
    """No login holds a NUL (and PostgreSQL takes none in a query): the attempt is refused as a
    wrong login, recorded (the NUL shown as U+FFFD) and counted, as any other guess."""
    for n in range(3):
        answer = attempt(app, email, f"guess-{n}")
        assert answer.status_code == 401 and "The email or the password is not right." in text_of(answer.text)
    assert attempt(app, email, "guess").status_code == 429
    with db.database.connection_context():
        recorded = [(e.email, e.outcome) for e in LoginEvent.select().order_by(LoginEvent.id)]
    assert recorded == [(email.replace("\x00", "\ufffd"), "failure")] * 3 + [
        (email.replace("\x00", "\ufffd"), "throttled")
    ]
    assert attempt(app, KAM, PASSWORD).status_code == 302  # the real login is untouched


def test_an_ipv6_client_drawing_a_new_address_per_guess_is_locked_by_its_network(settings, broker, org, kamflow):
    """One IPv6 line holds a whole /64: guessing from a fresh address each time was never locked."""
    from gateway import create_app

    app = create_app(dataclasses.replace(settings, login_address_lock_after=5), broker=broker)
    for n in range(5):
        address = f"2001:db8:1:2::{n + 1:x}"
        assert attempt(app, f"nobody{n}@acme-energy.example", "guess", address=address).status_code == 401
    refused = attempt(app, KAM, PASSWORD, address="2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    assert refused.status_code == 429 and "from your network" in text_of(refused.text)
    assert attempt(app, KAM, PASSWORD, address="2001:db8:1:3::1").status_code == 302  # the next /64 is not
    assert "2001:db8:1:2::/64" in kamflow("login-locks").output
    assert kamflow("unlock-login", "2001:db8:1:2::99").exit_code == 0  # an address of it lifts the lock
    assert attempt(app, KAM, PASSWORD, address="2001:db8:1:2::1").status_code == 302


def test_an_ipv4_client_on_a_dual_stack_socket_is_counted_as_its_ipv4_address(settings, broker, org):
    from gateway import create_app

    app = create_app(dataclasses.replace(settings, login_address_lock_after=4), broker=broker)
    for n, address in enumerate(("203.0.113.9", "::ffff:203.0.113.9", "203.0.113.9", "::ffff:203.0.113.9")):
        assert attempt(app, f"nobody{n}@acme-energy.example", "guess", address=address).status_code == 401
    assert attempt(app, KAM, PASSWORD, address="203.0.113.9").status_code == 429


def test_an_operator_names_a_login_in_any_spelling_of_its_address(app, org, kamflow):
    """The commands normalise an email as the login page does: the ACE form of an accented
    domain, or capitals, reach the lock and the attempts of the login as stored."""
    login = "claire@exämple.com"
    for n in range(12):
        attempt(app, login, f"guess-{n}")
    assert login in kamflow("login-locks").output
    ace = "CLAIRE@" + "exämple".encode("idna").decode() + ".COM"
    assert "failure" in kamflow("login-events", "--email", ace).output
    unlocked = kamflow("unlock-login", ace)
    assert unlocked.exit_code == 0, unlocked.output
    assert login not in kamflow("login-locks").output
