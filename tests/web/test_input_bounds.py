"""Inputs at every door: no line, paragraph or format character in any text field; every
number from a URL or a form is bounded (a clear 4xx, never a 500); requests without a valid
API token are rate-limited per client address, behind a trusted proxy too."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
from browser import error_of
from support import account_request

from shared import db
from shared.models import MarketAccess

INVISIBLE = ["\u2028", "\u2029", "\u200b", "\u202e", "\u00ad", "\ufeff", "\u0085", "\x00", "\t"]
TEXT_FIELDS = ["company", "customer_reference", "last_name", "first_name"]


@pytest.mark.parametrize("char", INVISIBLE)
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_the_api_refuses_line_and_format_characters_in_every_text_field(api, field, char):
    answer = api.create(account_request(**{f"customer.{field}": f"Martin{char}Foundry"}))
    assert answer.status_code == 422
    message = " ".join(answer.get_json()["errors"]["json"]["customer"][field])
    assert f"U+{ord(char):04X}" in message
    assert api.get("/api/v1/customer-accounts").get_json()["total"] == 0


#: Names spelt with a zero-width non-joiner or joiner between letters: Persian (ZWNJ), and
#: Devanagari (ZWJ after a virama, a combining mark that counts with its letter).
PERSIAN_FIRST_NAME = "\u0645\u0647\u200c\u0631\u0646\u0627\u0632"
DEVANAGARI_LAST_NAME = "\u0915\u094d\u200d\u0937\u0924\u094d\u0930\u093f\u092f"
PERSIAN_COMPANY = "\u0646\u06cc\u0631\u0648\u06cc \u0645\u06cc\u200c\u0631\u0627\u0646"


def test_a_name_spelt_with_a_joiner_is_taken_and_reaches_the_customer_as_written(api, worker, mailbox):
    """Before: 422 'Must not contain ... invisible characters (found U+200C)' for every such name."""
    answer = api.create(
        account_request(
            **{
                "customer.first_name": PERSIAN_FIRST_NAME,
                "customer.last_name": DEVANAGARI_LAST_NAME,
                "customer.company": PERSIAN_COMPANY,
            }
        )
    )
    assert answer.status_code == 202, answer.get_json()
    account = api.wait_for_status(answer.get_json()["id"])
    assert account["status"] == "active"
    customer = account["customer"]
    assert (customer["first_name"], customer["last_name"], customer["company"]) == (
        PERSIAN_FIRST_NAME,
        DEVANAGARI_LAST_NAME,
        PERSIAN_COMPANY,
    )
    (message,) = mailbox.wait_for(1)
    assert PERSIAN_COMPANY in message["Subject"]
    assert f"Hello {PERSIAN_FIRST_NAME}," in message.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize(
    "name",
    [
        "\u200cMartin",  # at an end
        "Martin\u200d",
        "Martin \u200cFoundry",  # beside a space
        "Martin\u200c\u200dFoundry",  # beside another invisible character
        "R2\u200c3",  # between digits
        "Martin\u2066Foundry\u2069",  # a bidi isolate, between letters or not
        "Martin\u202dFoundry",  # a bidi override
        "Martin\u2060Foundry",  # a word joiner: Cf, and no joiner of letters
    ],
)
def test_a_joiner_anywhere_but_between_letters_and_every_other_format_character_is_refused(api, name):
    answer = api.create(account_request(**{"customer.last_name": name}))
    assert answer.status_code == 422
    assert "invisible characters" in " ".join(answer.get_json()["errors"]["json"]["customer"]["last_name"])
    assert api.get("/api/v1/customer-accounts").get_json()["total"] == 0


@pytest.mark.parametrize("char", ["\u2028", "\u200b"])
def test_a_change_refuses_them_too(api, char):
    account_id = api.create(account_request()).get_json()["id"]
    answer = api.client.patch(
        f"/api/v1/customer-accounts/{account_id}", headers=api.headers, json={"customer": {"company": f"Acme{char}SAS"}}
    )
    assert answer.status_code == 422 and "company" in answer.get_json()["errors"]["json"]["customer"]


@pytest.mark.parametrize("field", ["company", "last_name"])
def test_the_wizard_shows_the_refusal_by_the_field(kam_page, field):
    answer = kam_page.step1(**{field: "Martin\u2029Foundry"})
    assert answer.status_code == 422
    # By that field and tied to it (error_of checks aria-describedby), and by no other field.
    assert "U+2029" in error_of(answer.text, field)
    assert [other for other in TEXT_FIELDS if other != field and error_of(answer.text, other)] == []


HUGE = "9223372036854775808"


@pytest.mark.parametrize(
    "path, status",
    [
        ("/customers?page=9223372036854775807", 400),
        ("/customers?page=0", 400),
        ("/customers?page=-1", 400),
        ("/customers?page=abc", 400),
        ("/customers?page=%C2%B2", 400),
        ("/customers?page=1000001", 400),
        (f"/customers/{HUGE}", 404),
        (f"/customers/{HUGE}/edit", 404),
        (f"/customers/{HUGE}/progress", 404),
        (f"/customers/{HUGE}/optimisations", 404),
        (f"/customers/new/from/{HUGE}", 404),
        (f"/ops/accounts/{HUGE}", 404),
        ("/customers?page=1", 200),
    ],
)
def test_numbers_in_page_urls_are_bounded(manager_page, path, status):
    assert manager_page.get(path).status_code == status


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/v1/customer-accounts?page=9223372036854775807", 422),
        ("/api/v1/customer-accounts?per_page=101", 422),
        (f"/api/v1/customer-accounts/{HUGE}", 404),
        (f"/api/v1/customer-accounts/{HUGE}0000", 404),
        ("/api/v1/webhook/deliveries?page=9223372036854775807", 422),
    ],
)
def test_numbers_in_api_urls_are_bounded(api, path, status):
    assert api.get(path).status_code == status


def test_a_huge_number_in_a_form_is_an_error_by_its_field(kam_page):
    kam_page.step1()
    from browser import step2_with_access

    answer = kam_page.post_form(
        "/customers/new/setup", {**step2_with_access(**{"fr-power-max_optimisations": HUGE}), "action": "create"}
    )
    assert answer.status_code == 422 and error_of(answer.text, "fr-power-max_optimisations")


@pytest.fixture
def limited(settings, broker, org):
    from gateway import create_app

    def make(**overrides):
        return create_app(
            dataclasses.replace(settings, api_unauthenticated_rate_limit="3 per minute", **overrides), broker=broker
        ).test_client()

    return make


def _random_token():
    return {"Authorization": f"Bearer kf_{secrets.token_urlsafe(32)}"}


def test_requests_without_a_valid_token_are_limited_per_address_not_per_token(limited, org):
    client = limited()
    answers = [client.get("/api/v1/markets", headers=_random_token()) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    refused = client.get("/api/v1/markets", headers=_random_token())
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "without a valid API token" in refused.get_json()["message"]
    assert client.get("/api/v1/markets").status_code == 429  # no token at all: the same bucket
    valid = {"Authorization": f"Bearer {org['token']}"}
    assert client.get("/api/v1/markets", headers=valid).status_code == 200  # a valid token has its own
    other = client.get("/api/v1/markets", headers=_random_token(), environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert other.status_code == 401


def test_an_ipv6_client_is_limited_by_its_network_not_by_each_address_it_draws(limited, org):
    client = limited()
    for n in range(3):
        answer = client.get("/api/v1/markets", environ_base={"REMOTE_ADDR": f"2001:db8:7:8::{n + 1:x}"})
        assert answer.status_code == 401
    refused = client.get("/api/v1/markets", environ_base={"REMOTE_ADDR": "2001:db8:7:8:ffff::1"})
    assert refused.status_code == 429
    assert client.get("/api/v1/markets", environ_base={"REMOTE_ADDR": "2001:db8:7:9::1"}).status_code == 401


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(limited, org):
    direct = limited()
    for n in range(3):
        direct.get("/api/v1/markets", headers={**_random_token(), "X-Forwarded-For": f"203.0.113.{n}"})
    # Without TRUSTED_PROXY_COUNT the header is the client's word: ignored, one bucket.
    assert direct.get("/api/v1/markets", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429

    proxied = limited(trusted_proxy_count=1)
    for n in range(4):
        answer = proxied.get("/api/v1/markets", headers={**_random_token(), "X-Forwarded-For": f"192.0.2.{n}"})
        assert answer.status_code == 401  # each client behind the proxy has its own bucket


@pytest.mark.parametrize("forged", ["\u00b2", "\u0663", "9" * 5000, "1e3"])
def test_a_forged_number_of_optimisations_is_an_error_by_its_field_in_the_wizard_and_the_edit_page(
    kam_page, worker, forged
):
    """What no number input sends (a superscript two, an Arabic-Indic three, 5,000 digits): the
    form again with the field's message, nothing written, never a 500."""
    from browser import STEP1, accounts_stored, step2_with_access

    kam_page.step1()
    answer = kam_page.post_form(
        "/customers/new/setup", {**step2_with_access(**{"fr-power-max_optimisations": forged}), "action": "create"}
    )
    assert answer.status_code == 422
    assert error_of(answer.text, "fr-power-max_optimisations") == "Not a valid integer."
    assert accounts_stored() == []
    account_id = kam_page.create(step2_with_access())
    assert kam_page.wait_for_status(account_id)["status"] == "active"
    edit = {k: v for k, v in STEP1.items() if k != "email"}
    edit.update(step2_with_access(**{"fr-power-max_optimisations": forged}))
    answer = kam_page.post_form(f"/customers/{account_id}/edit", edit)
    assert answer.status_code == 422
    assert error_of(answer.text, "fr-power-max_optimisations") == "Not a valid integer."
    with db.database.connection_context():
        kept = MarketAccess.get((MarketAccess.account == account_id) & (MarketAccess.market == "fr-power"))
    assert kept.max_optimisations == 2
