"""Two writers on one account: a KAM's change and a running stage both keep what they wrote.

A stage reads the account when it begins, and holds it (SELECT ... FOR UPDATE on PostgreSQL,
the writer lock on SQLite) until its transaction commits: a PATCH made right after that read
waits for the stage, then commits on top of it, and neither overwrites the other (a full-row
save would put the old company back, silently).
"""

from __future__ import annotations

import sys
import threading

import pytest
from support import account_request, wait_drained

from shared import workflow

pytestmark = pytest.mark.usefixtures("worker")


def test_a_patch_made_while_a_stage_holds_the_account_waits_for_it_and_both_writes_are_kept(
    api, monkeypatch, redis_client
):
    real_stage_due = workflow.stage_due
    patched = threading.Event()
    answers = []
    waited = []  # whether the PATCH was still waiting a second after the stage read the account

    def patch_company(account_id):
        answer = api.client.patch(
            f"/api/v1/customer-accounts/{account_id}",
            headers=api.headers,
            json={"customer": {"company": "Martin Forge SAS", "phone": "+33 6 12 34 56 78"}},
        )
        answers.append(answer.status_code)
        patched.set()

    def stage_due_then_a_patch(status):
        """validate_customer has just read the account in its transaction: a PATCH comes now."""
        due = real_stage_due(status)
        caller = sys._getframe(1)
        if caller.f_code.co_name == "take" and status == workflow.PENDING and not answers:
            answers.append("racing")
            threading.Thread(target=patch_company, args=(caller.f_locals["account_id"],), daemon=True).start()
            # The PATCH cannot commit while the stage holds the account: it waits for the stage.
            waited.append(not patched.wait(1))
        return due

    monkeypatch.setattr(workflow, "stage_due", stage_due_then_a_patch)
    account_id = api.create(account_request()).get_json()["id"]
    account = api.wait_for_status(account_id)
    assert patched.wait(20) and answers == ["racing", 200]
    assert waited == [True], "the PATCH committed while the stage held the account"
    account = api.get(f"/api/v1/customer-accounts/{account_id}").get_json()
    assert account["status"] == "active"  # the stage's writes
    assert [s["state"] for s in account["stages"]] == ["done"] * 4
    assert account["customer"]["company"] == "Martin Forge SAS"  # the PATCH's writes
    assert account["customer"]["phone"] == "+33612345678"
    wait_drained(redis_client)
