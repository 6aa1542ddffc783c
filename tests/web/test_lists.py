"""The page 'CUSTOMER ACCOUNTS' (search, pagination, columns) and the Dashboard's 'Monitoring of
activities'."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browser import text_of
from support import PASSWORD, account_request

from shared import account_status, accounts, organisations, workflow
from shared.db import database
from shared.models import CustomerAccount
from shared.schemas import AccountRequestSchema


def insert(org, company, *, email=None, reference=None, demo=False, markets=(), status=workflow.PENDING, kam=None):
    kam = kam or org["kam"]
    today = dt.date.today()
    setup = {"app_access": False}
    if markets:
        setup = {
            "app_access": True,
            "editor": "kam",
            "markets": [
                {
                    "market": market,
                    "end_date": (today + dt.timedelta(days=days)).isoformat(),
                    "forecasts": ["application"],
                    "max_optimisations": 1,
                }
                for market, days in markets
            ],
        }
    body = AccountRequestSchema().load(
        {
            "kam_email": kam.email,
            "customer": {
                "company": company,
                "customer_reference": reference,
                "last_name": "Doe",
                "first_name": "Jo",
                "phone": "+33 1 23 45 67 89",
                "email": email or f"{re.sub(r'[^a-z0-9]', '', company.lower())}@x.example",
                "is_demo": demo,
            },
            "setup": setup,
        }
    )
    with database.connection_context():
        account = accounts.store_account(org["organisation"], kam, body, actor="test")
        CustomerAccount.update(status=status).where(CustomerAccount.id == account.id).execute()
    return account


def rows(page_html: str) -> list[str]:
    body = page_html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page_html else ""
    return [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]


def test_customer_accounts_page_lists_every_column(kam_page, org):
    insert(
        org,
        "Acier Demo",
        reference="REF-9",
        demo=True,
        markets=[("fr-power", 300), ("de-gas", 100)],
        status=workflow.ACTIVE,
    )
    insert(org, "Sans Acces", status=workflow.REJECTED)
    page = kam_page.get("/customers")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "CUSTOMER ACCOUNTS" in text and "Add a customer account" in text
    for header in ("Company", "Reference", "Contact", "Access", "Markets", "Status"):
        assert f'<th scope="col">{header}</th>' in page.text
    no_access, demo = rows(page.text)  # newest first
    assert demo.startswith("Acier Demo Demo REF-9 Jo Doe acierdemo@x.example Yes")
    assert "Germany gas, France power" in demo and demo.endswith("Active")
    assert no_access == "Sans Acces — Jo Doe sansacces@x.example No — Rejected"


def test_customer_accounts_are_searchable(kam_page, org):
    insert(org, "Alpha Metals", reference="AL-1")
    insert(org, "Beta Foods", email="buyer@beta.example")
    insert(org, "Gamma Paper")
    for query, expected in (
        ("alpha", ["Alpha Metals"]),
        ("AL-1", ["Alpha Metals"]),
        ("beta.example", ["Beta Foods"]),
        ("doe", ["Gamma Paper", "Beta Foods", "Alpha Metals"]),
        ("zzz", []),
    ):
        page = kam_page.get("/customers", query_string={"q": query}).text
        assert [row.split(" ")[0] + " " + row.split(" ")[1] for row in rows(page)] == expected, query
    assert "No customer account matches your search." in text_of(kam_page.get("/customers?q=zzz").text)


@pytest.mark.parametrize("query", ["\x00", "abc\x00def", "Alpha\x00", "Al\u200bpha", "Metals\x07"])
def test_a_search_with_a_control_character_finds_nothing_rather_than_failing(kam_page, manager_page, org, query):
    """No stored account holds such a character; a NUL is not even SQL text (PostgreSQL refuses
    it, SQLite's FTS5 query breaks on it): the list says nothing matches, for a KAM and a manager."""
    insert(org, "Alpha Metals", reference="AL-1")
    for page in (kam_page, manager_page):
        answer = page.get("/customers", query_string={"q": query})
        assert answer.status_code == 200
        assert rows(answer.text) == []
        assert "No customer account matches your search." in text_of(answer.text)


def test_customer_accounts_are_paginated(kam_page, org):
    for n in range(23):
        insert(org, f"Company {n:02d}")
    first = kam_page.get("/customers").text
    assert len(rows(first)) == 20 and rows(first)[0].startswith("Company 22")
    assert "Page 1 of 2" in text_of(first) and 'rel="next" href="/customers?page=2"' in first
    second = kam_page.get("/customers?page=2").text
    assert [r.split(" ")[1] for r in rows(second)] == ["02", "01", "00"]
    assert "23 accounts" in text_of(second)
    refused = kam_page.get("/customers?page=abc")  # a page number that is not one is said so, never a 500
    assert refused.status_code == 400 and "from 1 to 1,000,000" in text_of(refused.text)


def test_a_page_past_the_last_shows_the_last_page_not_an_empty_list(kam_page, manager_page, org):
    """A link kept while accounts went away, or a number typed: the list said '23 accounts' over
    'No customer account yet.', with no way to another page. It shows the last page instead,
    keeping the search and the KAM filter."""
    for n in range(23):
        insert(org, f"Company {n:02d}")
    past = kam_page.get("/customers?page=7")
    assert past.status_code == 302 and past.headers["Location"] == "/customers?page=2"
    last = kam_page.get(past.headers["Location"]).text
    assert [r.split(" ")[1] for r in rows(last)] == ["02", "01", "00"] and "Page 2 of 2" in text_of(last)

    searched = kam_page.get("/customers", query_string={"q": "Company 1", "page": "3"})
    assert searched.status_code == 302 and searched.headers["Location"] == "/customers?q=Company+1"
    assert len(rows(kam_page.get(searched.headers["Location"]).text)) == 10

    kam = org["kam"].id
    filtered = manager_page.get(f"/customers?kam={kam}&page=9")
    assert filtered.status_code == 302 and filtered.headers["Location"] == f"/customers?kam={kam}&page=2"
    none_yet = manager_page.get("/customers", query_string={"q": "zzz", "page": "2"})
    assert none_yet.headers["Location"] == "/customers?q=zzz"
    assert "No customer account matches your search." in text_of(manager_page.get("/customers?q=zzz").text)


def test_dashboard_monitors_activities(kam_page, org, other_kam):
    insert(org, "Created One")
    insert(org, "Running One", status=workflow.PROVISIONING)
    insert(org, "Trial Ending", demo=True, markets=[("fr-gas", 10)], status=workflow.ACTIVE)
    insert(org, "Access Ending", markets=[("de-power", 20), ("fr-power", 200)], status=workflow.ACTIVE)
    insert(org, "Refused", status=workflow.REJECTED)
    insert(org, "Broken", status=workflow.FAILED)
    insert(org, "Someone Else's", kam=other_kam, status=workflow.FAILED)
    page = kam_page.get("/dashboard")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Monitoring of activities" in text and "Add an account" in text
    counts = dict(re.findall(r'data-testid="count-(\w+)"><span class="n">(\d+)</span>', page.text))
    # the demo is counted apart from the real customers
    assert counts == {"created": "1", "in_progress": "1", "active": "1", "rejected": "1", "failed": "1", "demo": "1"}
    demos = text.split("Demo trials ending soon")[1].split("Market access ending soon")[0]
    ending = text.split("Market access ending soon")[1]
    assert "Trial Ending — France gas" in demos and "Access Ending" not in demos
    assert "Access Ending — Germany power" in ending and "France power" not in ending  # 200 days: not soon
    assert "Someone Else" not in text
    for company in ("Created One", "Running One", "Refused", "Broken"):
        assert company in text.split("Recent activity")[1]


def test_dashboard_of_a_new_kam_is_empty_but_invites_to_add(kam_page):
    text = text_of(kam_page.get("/dashboard").text)
    assert "No customer account yet: add one." in text and "Add an account" in text


def test_the_account_page_writes_the_phone_as_people_do_and_a_rejected_one_promises_no_email(kam_page, org):
    active = insert(org, "Acier Demo", markets=[("fr-power", 300)], status=workflow.ACTIVE)
    rejected = insert(org, "Refus SA", email="refus@x.example", markets=[("fr-power", 300)], status=workflow.REJECTED)
    assert "+33 1 23 45 67 89" in text_of(kam_page.get(f"/customers/{active.id}").text)
    page = text_of(kam_page.get(f"/customers/{rejected.id}").text)
    assert "Refus SA" in page and "should receive an email with the login credentials" not in page


def test_the_list_status_of_a_running_account_refreshes_by_itself(kam_page, org, other_kam):
    theirs = insert(org, "Autre SA", email="autre@x.example", status=workflow.VALIDATING, kam=other_kam)
    assert kam_page.get(f"/customers/{theirs.id}/status").status_code == 404  # another KAM's account
    running = insert(org, "En Cours", status=workflow.VALIDATING)
    done = insert(org, "Fini SA", email="fini@x.example", status=workflow.ACTIVE)
    page = kam_page.get("/customers").text
    assert f'data-poll="/customers/{running.id}/status"' in page
    assert f"/customers/{done.id}/status" not in page  # final: nothing to watch
    live = kam_page.get(f"/customers/{running.id}/status").get_json()
    assert live["final"] is False and "status-validating" in live["html"]
    with database.connection_context():
        CustomerAccount.update(status=workflow.ACTIVE).where(CustomerAccount.id == running.id).execute()
    live = kam_page.get(f"/customers/{running.id}/status").get_json()
    assert live["final"] is True and "Active" in live["html"]


def test_the_search_index_finds_exactly_what_a_substring_scan_finds(kam_page, manager_page, org):
    """The trigram index (pg_trgm, FTS5) only proposes candidates: every query, short or long,
    in any case, with accents or LIKE's wildcards, finds the same accounts as reading them all,
    keeps up with renames and deletions, and never reaches into another organisation."""
    insert(org, "Alpha Metals", reference="AL-1")
    insert(org, "Beta Foods", email="buyer@beta.example")
    insert(org, "Société Générale d'Énergie", email="achats@sge.example")
    insert(org, "100% Pure_Water", reference="PW-9")
    renamed = insert(org, "Gamma Paper")
    gone = insert(org, "Delta Glass")
    with database.connection_context():
        CustomerAccount.update(company="Omega Paperworks").where(CustomerAccount.id == renamed.id).execute()
        CustomerAccount.delete().where(CustomerAccount.id == gone.id).execute()
        elsewhere = organisations.create_organisation("rival-power", "Rival Power", ["fr-power"])
        rival = organisations.create_staff_user(elsewhere, "kam@rival-power.example", "kam", PASSWORD)
    insert({"organisation": elsewhere, "kam": rival}, "Alpha Metals Rival", reference="AL-2")

    def scanned(query: str) -> list[str]:  # every account of the organisation, read and tested one by one
        needle = query.lower()
        with database.connection_context():
            accounts_ = CustomerAccount.select().where(CustomerAccount.organisation == org["organisation"])
            found = [
                account
                for account in accounts_.order_by(CustomerAccount.created_at.desc(), CustomerAccount.id.desc())
                if any(
                    needle in (value or "").lower() if needle.isascii() else query in (value or "")
                    for value in (
                        account.company,
                        account.customer_reference,
                        account.last_name,
                        account.first_name,
                        account.email,
                    )
                )
            ]
        return [account.company for account in found]

    for query, expected in (
        ("alpha", ["Alpha Metals"]),  # the other organisation's "Alpha Metals Rival" never shows
        ("ALPHA METALS", ["Alpha Metals"]),
        ("ha me", ["Alpha Metals"]),  # inside a column, across a space
        ("al", ["Société Générale d'Énergie", "Alpha Metals"]),  # shorter than a trigram: read as before
        ("o", None),  # one character: the scan decides, as before the index
        ("ciété Gén", ["Société Générale d'Énergie"]),  # accents, as typed
        ("Societe", []),  # no accent folding, as before the index
        ("% Pure_", ["100% Pure_Water"]),  # LIKE's wildcards are plain characters
        ("0% P", ["100% Pure_Water"]),
        ("_w", ["100% Pure_Water"]),  # not "any character, then w" (Paperworks)
        ("paperworks", ["Omega Paperworks"]),  # renamed: found by its new name
        ("gamma paper", []),  # ...and no longer by its old one (its email, gammapaper@, stays)
        ("delta", []),  # deleted
        ('"alpha"', []),  # quotes are characters, not FTS5 syntax
        ("buyer@beta", ["Beta Foods"]),
        ("AL-", ["Alpha Metals"]),
    ):
        expected = scanned(query) if expected is None else expected
        assert expected == scanned(query), query  # the table above is what reading every account finds
        for page in (kam_page, manager_page):
            answer = page.get("/customers", query_string={"q": query})
            assert answer.status_code == 200, query
            assert [row.split(" ")[0] for row in rows(answer.text)] == [c.split(" ")[0] for c in expected], query
            assert f"{len(expected)} account" in text_of(answer.text), query


def test_totals_are_the_accounts_counted_after_creates_moves_reassignments_and_deletions(
    api, worker, org, kam_page, manager_page, other_kam, other_kam_page
):
    """The totals come from counts the database keeps (migration 0006), not from counting rows:
    after every kind of write they are what COUNT(*) says, for every scope and status filter."""
    created = [
        api.create(
            account_request(**{"customer.email": f"buyer{n}@totals.example", "customer.customer_reference": f"T-{n}"})
        ).get_json()["id"]
        for n in range(3)
    ]
    for account_id in created:  # the real workflow moves each through five statuses
        assert api.wait_for_status(account_id)["status"] == "active"
    insert(org, "Rejected Company", status=workflow.REJECTED)
    insert(org, "Second Kam Company", kam=other_kam)
    reassigned, gone, moved = (insert(org, name) for name in ("Reassigned Co", "Deleted Co", "Validating Co"))
    with database.connection_context(), database.atomic():
        assert account_status.move(moved.id, workflow.PENDING, workflow.VALIDATING)
        CustomerAccount.update(kam=other_kam.id).where(CustomerAccount.id == reassigned.id).execute()
        CustomerAccount.delete().where(CustomerAccount.id == gone.id).execute()

    def counted(**where) -> int:
        with database.connection_context():
            query = CustomerAccount.select().where(CustomerAccount.organisation == org["organisation"])
            for column, value in where.items():
                query = query.where(getattr(CustomerAccount, column) == value)
            return query.count()

    assert counted() == 7
    assert api.get("/api/v1/customer-accounts").get_json()["total"] == 7
    for status in workflow.STATUSES:
        listed = api.get(f"/api/v1/customer-accounts?status={status}").get_json()
        assert listed["total"] == counted(status=status) == len(listed["items"]), status
    assert counted(status="active") == 3 and counted(status="validating") == 1

    def shown(page, path="/customers") -> str:
        return re.search(r"(\d+) accounts?", text_of(page.get(path).text)).group(0)

    assert shown(kam_page) == f"{counted(kam=org['kam'].id)} accounts" == "5 accounts"
    assert shown(other_kam_page) == "2 accounts"
    assert shown(manager_page) == "7 accounts"
    assert shown(manager_page, f"/customers?kam={other_kam.id}") == "2 accounts"
    assert shown(manager_page, f"/customers?kam={org['manager'].id}") == "0 accounts"


@pytest.mark.parametrize(
    ("query", "name"),
    [("q=Alpha&q=Beta", "q"), ("page=1&page=2", "page"), ("q=Alpha&page=1&page=1", "page")],
)
def test_a_filter_given_twice_is_refused_naming_it_not_read_as_the_first(kam_page, org, query, name):
    """Before: `?q=Alpha&q=Beta` listed Alpha's accounts, silently, as if Beta had not been asked."""
    insert(org, "Alpha Metals", reference="AL-1")
    refused = kam_page.get(f"/customers?{query}")
    assert refused.status_code == 400
    assert f"The address gives the parameter '{name}' 2 times. Give this parameter once." in text_of(refused.text)
    assert rows(refused.text) == []


def test_a_managers_kam_filter_given_twice_is_refused(manager_page, org, other_kam):
    """Before: `?kam=<one>&kam=<other>` listed the first KAM's accounts only, silently."""
    insert(org, "Alpha Metals", reference="AL-1")
    refused = manager_page.get(f"/customers?kam={org['kam'].id}&kam={other_kam.id}")
    assert refused.status_code == 400
    assert "The address gives the parameter 'kam' 2 times." in text_of(refused.text)
    assert rows(refused.text) == []


def test_the_other_pages_refuse_a_parameter_given_twice(app, kam_page, org):
    """The wizard's `fresh`, and the login's `next` (refused before the login is counted)."""
    refused = kam_page.get("/customers/new?fresh=1&fresh=1")
    assert refused.status_code == 400 and "parameter 'fresh' 2 times" in text_of(refused.text)
    login = app.test_client().get("/login?next=/customers&next=/dashboard")
    assert login.status_code == 400 and "parameter 'next' 2 times" in text_of(login.text)
