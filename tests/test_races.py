"""Two writers on one account: a KAM's change and a running stage both keep what they wrote.

A stage reads the account when it begins; a PATCH committed right after that read must not be
overwritten by the stage (a full-row save would put the old company back, silently).
"""

from __future__ import annotations

import sys
import threading

import pytest
from support import account_request, wait_drained

from shared import workflow

pytestmark = pytest.mark.usefixtures("worker")


def test_a_patch_committed_while_a_stage_begins_is_kept_and_the_stage_still_runs(
    api, monkeypatch, redis_client, database_url
):
    real_stage_due = workflow.stage_due
    patched = threading.Event()
    answers = []

    def patch_company(account_id):
        answer = api.client.patch(
            f"/api/v1/customer-accounts/{account_id}",
            headers=api.headers,
            json={"customer": {"company": "Martin Forge SAS", "phone": "+33 6 12 34 56 78"}},
        )
        answers.append(answer.status_code)
        patched.set()

    def stage_due_then_a_patch(status):
        """validate_customer's begin has just read the account: a PATCH commits now."""
        due = real_stage_due(status)
        caller = sys._getframe(1)
        if caller.f_code.co_name == "begin" and status == workflow.PENDING and not answers:
            answers.append("racing")
            threading.Thread(target=patch_company, args=(caller.f_locals["account_id"],), daemon=True).start()
            # PostgreSQL lets the PATCH commit before the stage writes (no row lock taken by a
            # read); SQLite's writer lock makes the PATCH wait for the stage's transaction.
            if not database_url.startswith("sqlite"):
                assert patched.wait(20), "the PATCH did not commit while the stage had read the account"
        return due

    monkeypatch.setattr(workflow, "stage_due", stage_due_then_a_patch)
    account_id = api.create(account_request()).get_json()["id"]
    account = api.wait_for_status(account_id)
    assert patched.wait(20) and answers == ["racing", 200]
    assert account["status"] == "active"  # the stage's writes
    assert [s["state"] for s in account["stages"]] == ["done"] * 4
    assert account["customer"]["company"] == "Martin Forge SAS"  # the PATCH's writes
    assert account["customer"]["phone"] == "+33612345678"
    wait_drained(redis_client)
