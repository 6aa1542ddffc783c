"""/ops as an operator uses it: who may see it, the counts read from the broker, the failed and
rejected accounts with their stage, error and attempts, Retry, and the account's timeline."""

from __future__ import annotations

import re

from browser import Browser, text_of
from support import account_request, wait_until

from ops.support import queue, read_snapshot
from shared import db
from shared.models import CustomerAccount

REJECTED = {"setup.markets.1.forecasts": ["application", "manager"]}  # no manager forecast for de-gas


def row(page: str, attribute: str, value) -> str:
    match = re.search(rf'<tr {attribute}="{value}">(.*?)</tr>', page, flags=re.S)
    return text_of(match.group(1)) if match else ""


def test_only_operators_and_managers_get_in(app, ops, manager_page, org):
    anonymous = app.test_client().get("/ops")
    assert anonymous.status_code == 302 and "/login?next=%2Fops" in anonymous.headers["Location"]
    kam = Browser(app.test_client()).login(org["kam"].email)
    for path in ("/ops", "/ops/panel", "/ops/snapshot.json", "/ops/accounts/1"):
        assert kam.get(path).status_code == 403, path
    assert kam.post_form("/ops/accounts/1/retry", page_path="/login").status_code == 403
    assert ops.get("/ops").status_code == 200
    assert manager_page.get("/ops").status_code == 200
    assert "Dead-lettered messages" in ops.get("/ops").text
    assert "Dead-lettered messages" not in manager_page.get("/ops").text  # an operator's job


def test_queue_counts_come_from_the_broker(ops, api, broker):
    """No worker runs: every accepted account waits, ready, on the first stage's queue."""
    for n in range(3):
        assert (
            api.create(
                account_request(**{"customer.email": f"c{n}@foundry.example", "customer.customer_reference": f"R{n}"})
            ).status_code
            == 202
        )
    snapshot = read_snapshot(ops)
    assert queue(snapshot, "validate_customer") == {"queue": "validate_customer", "ready": 3, "delayed": 0, "dead": 0}
    assert [q["queue"] for q in snapshot["queues"]][-1] == "deliver_webhook"
    assert snapshot["accounts_by_status"]["pending"] == 3
    assert snapshot["workers_summary"]["processes"] == 0
    page = ops.get("/ops").text
    assert row(page, "data-queue", "validate_customer").split()[:2] == ["validate_customer", "3"]
    assert "No worker has registered" in text_of(page)


def test_workers_and_stage_throughput_are_shown(ops, api, worker):
    ids = [
        api.create(
            account_request(
                **{
                    "setup": {"app_access": False},
                    "customer.email": f"c{n}@foundry.example",
                    "customer.customer_reference": f"R{n}",
                }
            )
        ).get_json()["id"]
        for n in range(2)
    ]
    for account_id in ids:
        assert api.wait_for_status(account_id)["status"] == "active"
    snapshot = read_snapshot(ops)
    assert snapshot["workers_summary"] == {"processes": 1, "threads": 4, "hosts": 1, "silent": 0}
    stages = {s["stage"]: s for s in snapshot["stages"]}
    assert stages["validate_customer"]["completed"] == 2
    assert (
        stages["validate_customer"]["p50_s"] is not None
        and stages["validate_customer"]["p95_s"] >= stages["validate_customer"]["p50_s"]
    )
    assert stages["send_credentials"]["completed"] == 2  # skipped counts as the stage completed
    assert snapshot["accounts_by_status"]["active"] == 2
    page = text_of(ops.get("/ops/panel").text)
    assert "1 process alive on 1 host, 4 threads" in page


def test_a_stage_that_fails_for_good_is_listed_and_retried_from_ops_to_active(ops, api, worker, mailbox):
    mailbox.refuse_next(3)  # 451 three times: the first try and both retries of send_credentials
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"

    page = ops.get("/ops").text
    listed = row(page, "data-account", account_id)
    assert "failed" in listed and "send_credentials" in listed and "451" in listed
    assert re.search(r"send_credentials 3 ", listed), listed  # three attempts
    assert f'action="/ops/accounts/{account_id}/retry"' in page
    assert wait_until(lambda: queue(read_snapshot(ops), "send_credentials")["dead"] == 1)

    answer = ops.post_form(f"/ops/accounts/{account_id}/retry", page_path="/ops")
    assert answer.status_code == 303
    assert "send_credentials sent again" in text_of(ops.get("/ops").text)  # the flash
    assert api.wait_for_status(account_id)["status"] == "active"
    assert len(mailbox.wait_for(1)) == 1
    snapshot = read_snapshot(ops)
    assert all(p["id"] != account_id for p in snapshot["problems"])
    assert queue(snapshot, "send_credentials")["dead"] == 0  # its dead letter went with the retry

    again = ops.post_form(f"/ops/accounts/{account_id}/retry", page_path="/ops")
    assert again.status_code == 303
    assert "is active, not failed" in text_of(ops.get("/ops").text)


def test_the_timeline_shows_every_attempt_one_click_from_the_list(ops, api, worker, mailbox):
    mailbox.refuse_next(3)
    failed_id = api.create(account_request()).get_json()["id"]
    rejected_id = api.create(
        account_request(**REJECTED, **{"customer.email": "other@foundry.example", "customer.customer_reference": "R2"})
    ).get_json()["id"]
    assert api.wait_for_status(failed_id)["status"] == "failed"
    assert api.wait_for_status(rejected_id)["status"] == "rejected"

    page = ops.get("/ops").text
    rejected_row = row(page, "data-account", rejected_id)
    assert "rejected" in rejected_row and "validate_customer" in rejected_row and "manager" in rejected_row
    assert f"/ops/accounts/{rejected_id}/retry" not in page  # nothing to retry in a business rejection
    assert f'href="/ops/accounts/{failed_id}"' in page and f'href="/ops/accounts/{rejected_id}"' in page

    timeline = ops.get(f"/ops/accounts/{failed_id}").text
    rows = re.findall(r'<tr class="outcome-(\w+)">(.*?)</tr>', timeline, flags=re.S)
    stages = [(text_of(cells).split()[2], outcome) for outcome, cells in rows]
    assert stages == [
        ("validate_customer", "done"),
        ("provision_access", "done"),
        ("activate_markets", "done"),
        ("send_credentials", "retrying"),
        ("send_credentials", "retrying"),
        ("send_credentials", "failed"),
    ]
    last = text_of(rows[-1][1])
    assert " 3 " in last and "451" in last and ":" in last  # attempt 3, the SMTP error, the worker (host:pid:thread)
    assert "Retry from the failed stage" in timeline

    rejected = text_of(ops.get(f"/ops/accounts/{rejected_id}").text)
    assert "validate_customer" in rejected and "rejected" in rejected


def test_bad_input_is_answered_with_a_message_never_a_500(ops):
    missing = ops.get("/ops/accounts/999")
    assert missing.status_code == 404 and "No customer account 999" in text_of(missing.text)
    assert ops.post_form("/ops/accounts/999/retry", page_path="/ops").status_code == 404
    assert ops.client.post("/ops/accounts/999/retry").status_code == 400  # no CSRF token


def test_a_manager_sees_only_their_organisations_accounts(ops, manager_page, api, broker):
    from shared import organisations

    account_id = api.create(account_request()).get_json()["id"]
    with db.database.connection_context():
        other = organisations.create_organisation("volt", "Volt", ["fr-power"])
        CustomerAccount.update(organisation=other).where(CustomerAccount.id == account_id).execute()
    # Operators are organisation-scoped too (docs/decisions.md "Permissions").
    assert read_snapshot(ops)["accounts_by_status"]["pending"] == 0
    assert read_snapshot(manager_page)["accounts_by_status"]["pending"] == 0
    assert manager_page.get(f"/ops/accounts/{account_id}").status_code == 404
    assert ops.get(f"/ops/accounts/{account_id}").status_code == 404
