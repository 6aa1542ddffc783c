"""Claims at accept time: of two requests for the same customer (same email, or same customer
reference in the organisation), the earlier wins and the later is refused at once with a 409
naming the account; a rejected account gives its claims back for a corrected request."""

from __future__ import annotations

import threading

import peewee
import pytest
from browser import STEP1
from support import Api, account_request, account_rows_read, burst_of_accounts

from shared import accounts, claims, db, organisations
from shared.models import CustomerAccount

pytestmark = pytest.mark.usefixtures("worker")


def stored_emails() -> list[str]:
    with db.database.connection_context():
        return [a.email for a in CustomerAccount.select()]


def test_the_same_customer_posted_again_is_refused_at_once_naming_the_first_account(api):
    first = api.create(account_request())
    assert first.status_code == 202
    first_id = first.get_json()["id"]

    again = api.create(account_request(**{"customer.customer_reference": "FR-777"}))
    assert again.status_code == 409
    body = again.get_json()
    assert body["code"] == 409 and body["status"] == "Conflict"
    assert f"Customer account {first_id}" in body["message"]
    assert f"Customer account {first_id}" in body["errors"]["json"]["customer"]["email"][0]
    assert body["existing_account"] == {
        "id": first_id,
        "links": {"self": f"http://localhost/api/v1/customer-accounts/{first_id}"},
    }

    same_reference = api.create(account_request(**{"customer.email": "someone.else@foundry.example"}))
    assert same_reference.status_code == 409
    errors = same_reference.get_json()["errors"]["json"]["customer"]
    assert list(errors) == ["customer_reference"] and f"Customer account {first_id}" in errors["customer_reference"][0]
    assert stored_emails() == ["claire.martin@foundry.example"]  # nothing half-written
    assert api.wait_for_status(first_id)["status"] == "active"  # and the first one is untouched


def test_another_organisations_customer_email_is_refused_without_saying_whose(api, org, client):
    assert api.create(account_request()).status_code == 202
    with db.database.connection_context():
        rival_org = organisations.create_organisation("rival", "Rival Power", ["fr-power", "de-gas"])
        organisations.create_staff_user(rival_org, "kam@rival.example", "kam", "correct-horse-battery")
        token = organisations.create_api_token(rival_org, "rival-crm")
    answer = Api(client, token).create(account_request(**{"kam_email": "kam@rival.example"}))
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["errors"]["json"]["customer"] == {
        "email": ["This email is already used as a login; it must be unique."]
    }
    assert "existing_account" not in body and "Martin Foundry" not in body["message"]


def test_a_rejected_account_releases_its_claims_for_a_corrected_request(api):
    wrong = account_request(**{"setup.markets.1.market": "gb-gas"})  # not offered: rejected
    rejected = api.wait_for_status(api.create(wrong).get_json()["id"])
    assert rejected["status"] == "rejected"
    corrected = api.create(account_request())  # same email, same reference
    assert corrected.status_code == 202
    assert api.wait_for_status(corrected.get_json()["id"])["status"] == "active"


def test_the_validate_stage_still_checks_a_login_created_after_acceptance(api, org):
    """The claims are an early answer; the validate stage stays authoritative (here: a staff login
    made with the customer's email after the account was stored)."""
    with db.database.connection_context():
        account = accounts.store_account(org["organisation"], org["kam"], _loaded(account_request()), actor="test")
        organisations.create_staff_user(
            org["organisation"], "claire.martin@foundry.example", "kam", "correct-horse-battery"
        )
    accounts.start_workflow(account.id)
    body = api.wait_for_status(account.id)
    assert body["status"] == "rejected"
    assert "already used as a login" in body["rejection_reasons"]["customer.email"][0]


def _patch(api, account_id: int, body: dict):
    return api.client.patch(f"/api/v1/customer-accounts/{account_id}", json=body, headers=api.headers)


def _loaded(body: dict) -> dict:
    from shared.schemas import AccountRequestSchema

    return AccountRequestSchema().load(body)


@pytest.mark.parametrize("changed", ["customer.customer_reference", "customer.email"])
def test_two_concurrent_posts_of_one_customer_accept_one_and_refuse_the_other_naming_it(app, org, changed):
    """Without an Idempotency-Key, at the same moment: the unique claims let exactly one in."""
    barrier = threading.Barrier(4)
    answers = []
    bodies = [
        account_request(**{changed: value})
        for value in (
            ["R-1", "R-2", "R-3", "R-4"]
            if changed.endswith("reference")
            else ["a@foundry.example", "b@foundry.example", "c@foundry.example", "d@foundry.example"]
        )
    ]

    def post(body):
        client = Api(app.test_client(), org["token"])
        barrier.wait()
        answers.append(client.create(body))

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 409, 409, 409], [a.get_json() for a in answers]
    winner = next(a.get_json()["id"] for a in answers if a.status_code == 202)
    for refused in (a.get_json() for a in answers if a.status_code == 409):
        assert refused["existing_account"]["id"] == winner
        assert f"Customer account {winner}" in refused["message"]
    assert len(stored_emails()) == 1


def test_the_accept_check_finds_the_claims_free_exactly_when_find_holders_finds_no_holder(api, org):
    """A POST reads its KAM and its claims in one statement (accounts.check_request): it must
    agree with claims.find_holders, and on PostgreSQL take an id only for a request that goes on."""
    assert api.create(account_request()).status_code == 202
    organisation = org["organisation"]
    postgres = isinstance(db.database.obj, peewee.PostgresqlDatabase)
    cases = [
        {"email": "new.one@foundry.example", "customer_reference": "NEW-1"},
        {"email": "claire.martin@foundry.example", "customer_reference": "NEW-2"},  # an account's email
        {"email": "new.two@foundry.example", "customer_reference": "FR-000123"},  # its reference
        {"email": "kam@acme-energy.example", "customer_reference": None},  # a login
        {"email": "new.three@foundry.example", "customer_reference": ""},
    ]
    with db.database.connection_context():
        for customer in cases:
            checked = accounts.check_request(organisation, "kam@acme-energy.example", customer)
            assert checked.kam.email == "kam@acme-energy.example"
            assert checked.claims_free == (claims.find_holders(organisation.id, customer) is None), customer
            assert (checked.account_id is not None) == (postgres and checked.claims_free), customer
        with pytest.raises(accounts.UnknownKam):
            accounts.check_request(organisation, "nobody@acme-energy.example", cases[0])


def test_checking_the_claims_reads_only_their_holders_however_many_accounts_and_stale_statistics(org):
    """Each POST asks whether its email and reference are free. With the organisation's accounts
    written in a burst (the planner's statistics not yet gathered, as before autovacuum's next
    pass), the check still reads the two claims' unique indexes, not every account."""
    organisation, kam = org["organisation"], org["kam"]
    with db.database.connection_context():
        burst_of_accounts(organisation, kam, 2000)
        query = accounts._check_query()
        sql, params = query.sql()
        values = {
            "organisation_id": organisation.id,
            "email": kam.email,
            "customer_email": "new@customer.example",
            "reference": "BURST-NEW",
        }
        bound = [db._bind(value, values) for value in params]
        if isinstance(db.database.obj, peewee.PostgresqlDatabase):
            plan = db.database.execute_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, bound).fetchone()[0][0]["Plan"]
            read = account_rows_read(plan)
        else:
            plan_rows = db.database.execute_sql("EXPLAIN QUERY PLAN " + sql, bound).fetchall()
            scans = [row[-1] for row in plan_rows if "holder" in row[-1]]
            assert len(scans) == 2 and all(scan.startswith("SEARCH holder USING") for scan in scans), plan_rows
            read = 0
        assert read == 0  # neither claim is held: no account row was looked at, let alone 2,000
        assert (
            accounts.check_request(organisation, kam.email, {"email": "burst7@customer.example"}).claims_free is False
        )


@pytest.mark.parametrize(
    "spelling",
    [
        "fr-000123",  # another case
        "ＦＲ－０００１２３",  # full width, as a Japanese or Chinese keyboard types it
        "Fr-000123",
        "FR-０００123",  # digits of both widths
    ],
)
def test_a_reference_in_another_spelling_is_the_same_reference(api, spelling):
    first = api.create(account_request()).get_json()["id"]  # FR-000123
    again = api.create(
        account_request(**{"customer.email": "someone.else@foundry.example", "customer.customer_reference": spelling})
    )
    assert again.status_code == 409, again.get_json()
    errors = again.get_json()["errors"]["json"]["customer"]
    assert list(errors) == ["customer_reference"] and f"Customer account {first}" in errors["customer_reference"][0]
    assert again.get_json()["existing_account"]["id"] == first
    assert stored_emails() == ["claire.martin@foundry.example"]  # nothing half-written


def test_the_reference_is_kept_as_typed_and_another_organisation_may_hold_any_spelling(api, org, client):
    first = api.create(account_request(**{"customer.customer_reference": "ＦＲ－０００１２３"})).get_json()
    assert first["customer"]["customer_reference"] == "ＦＲ－０００１２３"
    with db.database.connection_context():
        rival_org = organisations.create_organisation("rival", "Rival Power", ["fr-power", "de-gas"])
        organisations.create_staff_user(rival_org, "kam@rival.example", "kam", "correct-horse-battery")
        token = organisations.create_api_token(rival_org, "rival-crm")
    rival = Api(client, token).create(
        account_request(**{"kam_email": "kam@rival.example", "customer.email": "other@foundry.example"})
    )
    assert rival.status_code == 202, rival.get_json()


def test_a_reference_whose_plain_spelling_outgrows_the_column_is_claimed_too(api):
    """NFKC turns one U+FDFA into 18 letters: 4 of them, well within the 64 characters a
    reference may have, spell 72. The claim must still be stored (PostgreSQL's column holds 64)
    and still refuse the same reference."""
    long_one = "\ufdfa" * 4
    first = api.create(account_request(**{"customer.customer_reference": long_one}))
    assert first.status_code == 202, first.get_json()
    again = api.create(
        account_request(**{"customer.email": "someone.else@foundry.example", "customer.customer_reference": long_one})
    )
    assert again.status_code == 409
    assert again.get_json()["existing_account"]["id"] == first.get_json()["id"]
    assert len(claims.reference_claim(long_one)) <= claims.MAX_CLAIM_LENGTH


def test_a_patch_to_another_spelling_of_a_held_reference_is_refused_and_of_its_own_is_taken(api):
    holder = api.create(account_request()).get_json()["id"]  # FR-000123
    other = api.create(
        account_request(**{"customer.email": "o@foundry.example", "customer.customer_reference": "FR-000999"})
    ).get_json()["id"]
    taken = _patch(api, other, {"customer": {"customer_reference": "fr-000123"}})
    assert taken.status_code == 409, taken.get_json()
    assert taken.get_json()["existing_account"]["id"] == holder
    own = _patch(api, holder, {"customer": {"customer_reference": "fr-000123"}})
    assert own.status_code == 200, own.get_json()
    assert api.get(f"/api/v1/customer-accounts/{holder}").get_json()["customer"]["customer_reference"] == "fr-000123"
    refused = api.create(
        account_request(**{"customer.email": "n@foundry.example", "customer.customer_reference": "FR-000123"})
    )
    assert refused.status_code == 409 and refused.get_json()["existing_account"]["id"] == holder


def test_the_wizard_warns_by_the_field_of_a_reference_in_another_spelling(api, kam_page):
    holder = api.create(account_request()).get_json()["id"]  # FR-000123, the KAM's own customer
    step1 = {**STEP1, "customer_reference": "ｆｒ－０００１２３", "email": "paul.durand@other.example"}
    page = kam_page.post_form("/customers/new", step1)
    assert page.status_code == 422
    assert f"Customer account {holder}" in page.text and "already has this customer reference" in page.text


def test_migration_0010_rewrites_stored_claims_and_the_earlier_account_keeps_a_shared_one(api, org):
    """Claims stored as typed by the previous release: rewritten in one spelling; where two
    accounts held spellings that are now one, the earlier keeps it and the later holds none."""
    import importlib

    migration = importlib.import_module("shared.migrations.0010_reference_claims_in_one_spelling")
    made = [
        api.create(
            account_request(
                **{
                    "customer.email": f"m{n}@foundry.example",
                    "customer.customer_reference": f"REF-{n}",
                    "setup": {"app_access": False},
                }
            )
        ).get_json()["id"]
        for n in range(4)
    ]
    as_typed = {made[0]: "FR-1", made[1]: "fr-1", made[2]: "ＡＢＣ", made[3]: "plain-1"}
    with db.database.connection_context():
        for account_id, stored in as_typed.items():  # what the previous release stored
            CustomerAccount.update(reference_claim=stored).where(CustomerAccount.id == account_id).execute()
        migration.up(None, db.database.obj)
        claims_now = {a.id: a.reference_claim for a in CustomerAccount.select().where(CustomerAccount.id.in_(made))}
    assert claims_now == {made[0]: "fr-1", made[1]: None, made[2]: "abc", made[3]: "plain-1"}
    refused = api.create(
        account_request(**{"customer.email": "x@foundry.example", "customer.customer_reference": "Fr-1"})
    )
    assert refused.status_code == 409 and refused.get_json()["existing_account"]["id"] == made[0]
