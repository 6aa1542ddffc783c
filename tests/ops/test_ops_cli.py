"""`kamflow status`, `retry` and `requeue-dead` as an operator uses them in a terminal."""

from __future__ import annotations

from support import account_request


def failed_accounts(api, mailbox, count):
    ids = []
    for n in range(count):
        mailbox.refuse_next(3)
        account_id = api.create(
            account_request(**{"customer.email": f"c{n}@foundry.example", "customer.customer_reference": f"R{n}"})
        ).get_json()["id"]
        assert api.wait_for_status(account_id)["status"] == "failed"
        ids.append(account_id)
    return ids


def test_status_prints_queues_workers_and_stages(kamflow, api, worker):
    account_id = api.create(account_request(**{"setup": {"app_access": False}})).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "active"
    output = kamflow("status").output
    rows = [line.split() for line in output.splitlines() if line.strip()]
    assert next(r for r in rows if r[0] == "active")[-1] == "1"
    stage_row, queue_row = [r for r in rows if r[0] == "validate_customer"]
    assert stage_row[1] == "1"  # the stage table: completed in the last hour
    assert queue_row[1:] == ["0", "0", "0"]  # the queue table: ready, delayed, dead
    assert next(r for r in rows if r[0] == "deliver_webhook")[1:] == ["0", "0", "0"]
    assert "workers: 1 process(es) alive on 1 host(s), 4 threads" in output


def test_retry_all_failed_puts_every_failed_account_through_with_a_progress_bar(kamflow, api, worker, mailbox):
    ids = failed_accounts(api, mailbox, 2)
    result = kamflow("retry", "--all-failed")
    assert result.exit_code == 0, result.output
    assert "retrying 2 account(s)" in result.output
    for account_id in ids:
        assert f"account {account_id}: send_credentials sent again" in result.output
        assert api.wait_for_status(account_id)["status"] == "active"
    again = kamflow("retry", *map(str, ids))
    assert again.exit_code == 1 and "is active, not failed" in again.output


def test_requeue_dead_lists_then_requeues_and_the_account_completes(kamflow, api, worker, mailbox):
    [account_id] = failed_accounts(api, mailbox, 1)
    listing = kamflow("requeue-dead").output
    line = next(line for line in listing.splitlines() if "send_credentials" in line)
    redis_id, queue, actor, account = line.split()[:4]
    assert (queue, actor, account) == ("send_credentials", "send_credentials", str(account_id))
    result = kamflow("requeue-dead", redis_id)
    assert result.exit_code == 0, result.output
    assert f"account {account_id}: send_credentials sent again" in result.output
    assert api.wait_for_status(account_id)["status"] == "active"
    assert "no dead-lettered messages" in kamflow("requeue-dead").output
    unknown = kamflow("requeue-dead", redis_id)
    assert unknown.exit_code == 1 and "requeued or discarded already" in unknown.output


def test_a_dead_letter_named_twice_is_requeued_once(kamflow, api, worker, mailbox):
    [account_id] = failed_accounts(api, mailbox, 1)
    line = next(line for line in kamflow("requeue-dead").output.splitlines() if "send_credentials" in line)
    redis_id = line.split()[0]
    result = kamflow("requeue-dead", redis_id, redis_id)
    assert result.exit_code == 0, result.output
    assert result.output.count("sent again") == 1 and "error" not in result.output
    assert api.wait_for_status(account_id)["status"] == "active"
