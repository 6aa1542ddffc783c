"""Dead letters: a stage that gives up leaves its message in the broker's dead-letter set; an
operator sees it on /ops and requeues it (the account moves again) or discards it."""

from __future__ import annotations

import time

import dramatiq
from browser import text_of
from support import account_request, wait_drained, wait_until

from ops.support import queue, read_snapshot
from shared import queues


def dead_letter_for(ops, account_id):
    def found():
        letters = ops.get("/ops/snapshot.json").get_json()["dead_letters"]
        return next((d for d in letters if d["account_id"] == account_id), None)

    return wait_until(found, message="the give-up never reached the dead-letter set")


def test_a_dead_lettered_stage_message_is_requeued_and_the_account_completes(ops, api, worker, mailbox):
    mailbox.refuse_next(3)
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    letter = dead_letter_for(ops, account_id)
    assert letter["queue"] == "send_credentials" and letter["attempts"] == 3 and "451" in letter["error"]
    page = ops.get("/ops").text
    assert f"/ops/dead-letters/send_credentials/{letter['id']}/requeue" in page
    assert f"/ops/dead-letters/send_credentials/{letter['id']}/discard" in page

    answer = ops.post_form(f"/ops/dead-letters/send_credentials/{letter['id']}/requeue", page_path="/ops")
    assert answer.status_code == 303
    assert f"account {account_id}: send_credentials sent again" in text_of(ops.get("/ops").text).lower()
    assert api.wait_for_status(account_id)["status"] == "active"
    assert len(mailbox.wait_for(1)) == 1
    assert queue(read_snapshot(ops), "send_credentials")["dead"] == 0
    gone = ops.post_form(f"/ops/dead-letters/send_credentials/{letter['id']}/requeue", page_path="/ops")
    assert gone.status_code == 404 and "requeued or discarded already" in text_of(gone.text)


def test_a_discarded_dead_letter_is_gone_and_the_account_stays_failed(ops, api, worker, mailbox, redis_client):
    mailbox.refuse_next(3)
    account_id = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(account_id)["status"] == "failed"
    letter = dead_letter_for(ops, account_id)
    assert (
        ops.post_form(f"/ops/dead-letters/send_credentials/{letter['id']}/discard", page_path="/ops").status_code == 303
    )
    assert "discarded" in text_of(ops.get("/ops").text)
    assert queue(read_snapshot(ops), "send_credentials")["dead"] == 0
    wait_drained(redis_client)
    assert api.get(f"/api/v1/customer-accounts/{account_id}").get_json()["status"] == "failed"
    assert mailbox.messages == []


def _endpoint_of(org) -> int:
    """A webhook endpoint of the operator's organisation (its dead letters are theirs to see)."""
    from shared import db, webhooks

    with db.database.connection_context():
        endpoint, _ = webhooks.register(org["organisation"].id, "https://crm.acme-energy.example/hook")
    return endpoint.id


def test_any_other_dead_letter_goes_back_on_its_queue_with_its_retries_reset(ops, org, broker, redis_client):
    """No worker: the requeued message is seen waiting, ready, on its own queue."""
    endpoint_id = _endpoint_of(org)
    message = dramatiq.Message(
        queue_name="deliver_webhook",
        actor_name="deliver_webhook",
        args=(endpoint_id,),
        kwargs={},
        options={"retries": 5, "traceback": "Traceback...\nConnectionError: refused"},
    )
    redis_client.zadd(queues.dead_key("deliver_webhook"), {"abc-1": int(time.time() * 1000)})
    redis_client.hset(queues.dead_messages_key("deliver_webhook"), "abc-1", message.encode())
    snapshot = read_snapshot(ops)
    assert queue(snapshot, "deliver_webhook")["dead"] == 1
    assert snapshot["dead_letters"][0]["error"] == "ConnectionError: refused"

    assert ops.post_form("/ops/dead-letters/deliver_webhook/abc-1/requeue", page_path="/ops").status_code == 303
    assert queue(read_snapshot(ops), "deliver_webhook") == {
        "queue": "deliver_webhook",
        "ready": 1,
        "delayed": 0,
        "dead": 0,
    }
    redis_id = redis_client.lrange(queues.ready_key("deliver_webhook"), 0, 0)[0]
    requeued = dramatiq.Message.decode(redis_client.hget(f"{queues.ready_key('deliver_webhook')}.msgs", redis_id))
    assert requeued.args == (endpoint_id,) and requeued.message_id == message.message_id
    assert "retries" not in requeued.options and "traceback" not in requeued.options


def test_unknown_dead_letters_and_queues_are_404_with_a_message(ops, broker, manager_page):
    unknown = ops.post_form("/ops/dead-letters/send_credentials/nope/requeue", page_path="/ops")
    assert unknown.status_code == 404 and "no dead letter nope on send_credentials" in text_of(unknown.text)
    no_queue = ops.post_form("/ops/dead-letters/mars/nope/discard", page_path="/ops")
    assert no_queue.status_code == 404 and "no queue named 'mars'" in text_of(no_queue.text)
    assert (
        manager_page.post_form("/ops/dead-letters/send_credentials/nope/discard", page_path="/ops").status_code == 403
    )
