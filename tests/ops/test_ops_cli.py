"""`kamflow status`, `retry` and `requeue-dead` as an operator uses them in a terminal."""

from __future__ import annotations

from support import account_request
from tcp_relay import Relay


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


def test_redis_dropping_in_the_middle_of_requeue_dead_is_one_line_after_what_was_done(
    kamflow, api, worker, mailbox, redis_url, monkeypatch
):
    """Before: the redis ConnectionError's traceback, and nothing said of the letter requeued
    before it. Redis is reached through a relay cut when the command looks up the second
    letter: the first went through and is listed, then one line says what failed; exit 1."""
    failed = failed_accounts(api, mailbox, 2)
    host, port = redis_url.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    relay = Relay(host, int(port), cut_on=b"ZSCORE", occurrence=2)
    try:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{relay.port}/0")
        result = kamflow("requeue-dead", "--all")
    finally:
        relay.close()
    assert relay.cut.is_set()
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: Redis failed during `kamflow requeue-dead`: ")
    first = next(
        account_id for account_id in failed if f"account {account_id}: send_credentials sent again" in result.output
    )
    assert api.wait_for_status(first)["status"] == "active"
    [second] = [account_id for account_id in failed if account_id != first]
    assert api.wait_for_status(second)["status"] == "failed"  # left for the next run, which lists it
