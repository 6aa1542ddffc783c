"""Dead-lettered messages: what Dramatiq gave up on, and putting it right.

When Retries gives up it fails the message, and the Redis broker moves it to the queue's
dead-letter set (`dramatiq:<queue>.XQ`, the encoded message in `.XQ.msgs`), where it expires
after a week. Here an operator lists them, requeues one or discards it.

Requeueing a *stage* message whose account is `failed` is an operator's retry: the account goes
back to the failed stage's status and that stage is sent afresh (`operations.retry`) — sending the
old message alone would do nothing, since a failed account has no stage due. Any other message
(a webhook delivery; a stage message whose account has moved on) goes back on its queue as it
was, with its retry count reset; a stage that is not due any more ignores it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import cast

import dramatiq
import redis
from dramatiq.common import q_name

from shared import operations, queues, workflow
from shared.models import CustomerAccount

log = logging.getLogger(__name__)

#: Options the broker and Retries add to a message; a requeued message starts clean.
_RUN_OPTIONS = ("redis_message_id", "retries", "traceback", "requeue_timestamp", "eta")


class NotFound(Exception):
    """No such dead letter (unknown queue, or already requeued or discarded)."""


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A message the broker gave up on, as the operator sees it."""

    queue: str
    redis_id: str  # the id under which the broker keeps it; what requeue/discard take
    message_id: str
    actor: str
    args: tuple
    dead_at: dt.datetime
    retries: int
    error: str  # the last line of the last traceback the message carried (an earlier attempt's)

    @property
    def attempts(self) -> int:
        """The broker keeps the message as last enqueued: before its final attempt's retry count."""
        return self.retries + 1

    @property
    def account_id(self) -> int | None:
        """The account a stage message was for."""
        if self.actor in workflow.STAGE_NAMES and self.args and isinstance(self.args[0], int):
            return self.args[0]
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(queue: str, redis_id: bytes | str, data: bytes | str, score: float) -> DeadLetter:
    message = dramatiq.Message.decode(cast(bytes, data))  # our clients answer bytes (no decode_responses)
    traceback = (message.options.get("traceback") or "").strip().splitlines()
    return DeadLetter(
        queue=queue,
        redis_id=_text(redis_id),
        message_id=message.message_id,
        actor=message.actor_name,
        args=tuple(message.args),
        dead_at=dt.datetime.fromtimestamp(score / 1000, dt.UTC).replace(tzinfo=None),
        retries=message.options.get("retries", 0),
        error=traceback[-1] if traceback else "",
    )


def _check_queue(queue: str) -> None:
    if queue not in queues.queue_names():
        raise NotFound(f"no queue named {queue!r}")


def list_dead(client: redis.Redis, limit: int = 50, queue: str | None = None) -> list[DeadLetter]:
    """The most recent dead letters of every queue (or one), newest first."""
    found = []
    for name in [queue] if queue else queues.queue_names():
        # (member, score) pairs: redis-py's types do not tell withscores apart.
        entries = cast(
            "list[tuple[bytes, float]]", client.zrevrange(queues.dead_key(name), 0, limit - 1, withscores=True)
        )
        if not entries:
            continue
        bodies = client.hmget(queues.dead_messages_key(name), [redis_id for redis_id, _ in entries])
        for (redis_id, score), data in zip(entries, bodies, strict=True):
            if data is not None:
                found.append(_decode(name, redis_id, data, score))
    return sorted(found, key=lambda d: d.dead_at, reverse=True)[:limit]


def get(client: redis.Redis, queue: str, redis_id: str) -> DeadLetter:
    """The dead letter `redis_id` of `queue`, read only. Raises NotFound for an unknown queue or
    a letter requeued or discarded already."""
    _check_queue(queue)
    score = client.zscore(queues.dead_key(queue), redis_id)
    data = client.hget(queues.dead_messages_key(queue), redis_id)
    if score is None or data is None:
        raise NotFound(f"no dead letter {redis_id} on {queue} (requeued or discarded already?)")
    return _decode(queue, redis_id, data, score)


def _remove(client: redis.Redis, queue: str, redis_id: str) -> None:
    client.zrem(queues.dead_key(queue), redis_id)
    client.hdel(queues.dead_messages_key(queue), redis_id)


def discard(client: redis.Redis, queue: str, redis_id: str) -> DeadLetter:
    """Delete the dead letter for good and return what it was. Raises NotFound for an unknown
    queue or when it is gone already (another operator was first)."""
    letter = get(client, queue, redis_id)
    if not client.zrem(queues.dead_key(queue), redis_id):
        raise NotFound(f"no dead letter {redis_id} on {queue} (requeued or discarded already?)")
    client.hdel(queues.dead_messages_key(queue), redis_id)
    return letter


def requeue(client: redis.Redis, queue: str, redis_id: str) -> str:
    """Put a dead letter back to work; returns what was done, in words for the operator. The letter
    of a `failed` account is an operator's retry (`retry_account`); any other is enqueued again
    on its queue and leaves the dead letters. Raises NotFound when it is gone (another operator
    was first); if enqueueing fails, the letter is put back and the error raised."""
    letter = get(client, queue, redis_id)
    account_id = letter.account_id
    if account_id is not None:
        account = CustomerAccount.get_or_none(CustomerAccount.id == account_id)
        if account is not None and account.status == workflow.FAILED:
            stage = retry_account(client, account_id)
            return f"account {account_id}: {stage} sent again"
    data = client.hget(queues.dead_messages_key(queue), redis_id)
    # Another operator got there first (or its body went with them): nothing left to requeue.
    if data is None or not client.zrem(queues.dead_key(queue), redis_id):
        raise NotFound(f"no dead letter {redis_id} on {queue} (requeued or discarded already?)")
    try:
        old = dramatiq.Message.decode(cast(bytes, data))
        options = {k: v for k, v in old.options.items() if k not in _RUN_OPTIONS}
        fresh: dramatiq.Message[object] = dramatiq.Message(
            queue_name=q_name(old.queue_name),
            actor_name=old.actor_name,
            args=old.args,
            kwargs=old.kwargs,
            options=options,
            message_id=old.message_id,
            message_timestamp=old.message_timestamp,
        )
        dramatiq.get_broker().enqueue(fresh)
    except Exception:
        client.zadd(queues.dead_key(queue), {redis_id: int(letter.dead_at.replace(tzinfo=dt.UTC).timestamp() * 1000)})
        raise
    client.hdel(queues.dead_messages_key(queue), redis_id)
    return f"{letter.actor} message {letter.message_id} requeued on {queue}"


def discard_for_account(client: redis.Redis, stage_name: str, account_id: int) -> int:
    """Drop the dead letters of one stage for one account (obsolete once it is retried)."""
    dropped = 0
    key = queues.dead_messages_key(stage_name)
    for redis_id, data in client.hscan_iter(key):
        message = dramatiq.Message.decode(data)
        if message.args and message.args[0] == account_id:
            _remove(client, stage_name, _text(redis_id))
            dropped += 1
    return dropped


def retry_account(client: redis.Redis, account_id: int) -> str:
    """An operator's retry (the API's retry, the Retry button, `kamflow retry`, requeueing its
    dead letter): the account resumes from its failed stage, and that stage's dead letters for
    it, now obsolete, go. With the broker unreachable the retry still stands (the reconciler
    sends the stage, and `discard_obsolete` drops the letters, once it is back). Raises
    operations.CannotRetry with the reason when there is nothing to retry."""
    stage = operations.retry(account_id)
    try:
        discard_for_account(client, stage, account_id)
    except redis.RedisError as error:
        log.warning(
            "dead letters of account %s left for the reconciler (%s)",
            account_id,
            error,
            extra={"account_id": account_id, "stage": stage},
        )
    return stage


def discard_obsolete(client: redis.Redis) -> int:
    """Drop the stage dead letters of accounts that are not `failed` any more (retried while the
    broker was down, or resumed by the reconciler after a give-up that could not be recorded):
    a dead letter is an operator's to-do, and these are done. Returns how many went."""
    dropped = 0
    for stage_name in workflow.STAGE_NAMES:
        letters = {}
        for redis_id, data in client.hscan_iter(queues.dead_messages_key(stage_name)):
            args = dramatiq.Message.decode(data).args
            if args and isinstance(args[0], int):
                letters[_text(redis_id)] = args[0]
        if not letters:
            continue
        still_failed = {
            row.id
            for row in CustomerAccount.select(CustomerAccount.id).where(
                CustomerAccount.id.in_(set(letters.values())) & (CustomerAccount.status == workflow.FAILED)
            )
        }
        for redis_id, account_id in letters.items():
            if account_id not in still_failed:
                _remove(client, stage_name, redis_id)
                dropped += 1
    return dropped
