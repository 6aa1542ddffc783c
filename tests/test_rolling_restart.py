"""A rolling restart under load loses nothing: while a CRM posts a steady stream of accounts,
every worker process and both gateways are stopped with SIGTERM (what `docker compose` and
orchestrators send) and started again, one at a time. Every accepted account ends `active`,
none exists twice, each contact gets one email, and no request is refused except with a 503
and Retry-After. The stack is docker-compose.yml's, run as processes (compose_topology)."""

from __future__ import annotations

import datetime as dt
import http.client
import threading
import time
import urllib.error
from collections import Counter

import pytest
from compose_topology import call, crm_request, organisation, running_stack, wait_final
from support import POSTGRES_URL, wait_until

from shared import db
from shared.models import StageAttempt, utcnow

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set: several hosts share PostgreSQL"),
]

POST_EVERY_S = 0.25
MAX_ACCOUNTS = 400


def sending_credentials(pids: set[int], timeout: float) -> None:
    """Wait until a worker host's processes have just begun sending credentials (an attempt's
    worker is "host:pid:thread"): with the relay's second per message, that stage is still
    running a moment later, when the host is told to stop."""

    def sending() -> bool:
        with db.database.connection_context():
            running = StageAttempt.select().where(
                StageAttempt.finished_at.is_null()
                & (StageAttempt.stage == "send_credentials")
                & (StageAttempt.started_at > utcnow() - dt.timedelta(seconds=0.3))
            )
            return any(attempt.worker and int(attempt.worker.split(":")[1]) in pids for attempt in running)

    wait_until(sending, timeout, f"processes {sorted(pids)} sent no credentials", interval=0.02)


class Crm(threading.Thread):
    """Posts account after account, each with its Idempotency-Key, to the gateways in turn — the
    way a load balancer spreads them. A gateway that refuses the connection or drops it before
    answering is skipped and the same request (same key) goes to the other; a 503 is retried
    after its Retry-After."""

    def __init__(self, gateways, token):
        super().__init__(daemon=True)
        self.gateways, self.token = gateways, token
        self.stopping = threading.Event()
        self.accepted: dict[str, int] = {}  # key -> account id
        self.answers: Counter = Counter()  # HTTP status -> count
        self.refused_without_status: list[str] = []  # an HTTP answer other than 202, or 503 without Retry-After
        self.failovers: Counter = Counter()  # connection-level reasons a request went to the other gateway

    def run(self):
        n = 0
        while not self.stopping.is_set() and n < MAX_ACCOUNTS:
            self.post(n)
            n += 1
            self.stopping.wait(POST_EVERY_S)

    def post(self, n: int):
        key, target = f"rolling-{n}", n % 2
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, body, headers = call(
                    f"{self.gateways[target]}/api/v1/customer-accounts",
                    self.token,
                    "POST",
                    crm_request(n),
                    {"Idempotency-Key": key},
                )
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
                reason = getattr(error, "reason", error)
                self.failovers[type(reason).__name__] += 1
                target = 1 - target
                time.sleep(0.05)
                continue
            self.answers[status] += 1
            if status == 202:
                self.accepted[key] = body["id"]
                return
            if status == 503 and headers.get("Retry-After"):
                time.sleep(min(float(headers["Retry-After"]), 5))
                continue
            self.refused_without_status.append(f"{key}: {status} {body}")
            return
        self.refused_without_status.append(f"{key}: no gateway answered for 60 s")


def test_restarting_every_worker_and_gateway_one_by_one_under_load_loses_nothing(tmp_path):
    with running_stack(tmp_path, POSTGRES_URL, mail_delay_s=1.0) as stack:
        token = organisation(stack)
        crm = Crm(stack.gateways, token)
        crm.start()
        time.sleep(3)
        db.bind(POSTGRES_URL)
        exit_codes, in_flight = {}, {}
        for name, kind in (
            ("worker-1", "worker"),
            ("worker-2", "worker"),
            ("webhook-worker", "webhook-worker"),
            ("gateway-1", "gateway"),
            ("gateway-2", "gateway"),
        ):
            # A stage worker is told while it runs stages, so the proof that it finishes them is
            # asked of each one (the mail relay's second per message keeps them running).
            pids = stack.pids(name)
            if kind == "worker":
                sending_credentials(pids, timeout=60)
            told = utcnow()
            exit_codes[name] = stack.stop(name)  # SIGTERM, then wait: in-flight work finishes first
            if kind == "worker":
                in_flight[name] = (pids, told, utcnow())
            if kind == "gateway":
                stack.start_gateway(name)  # same port: the load balancer's address for it
            else:
                stack.start_worker(name, kind)
            time.sleep(3)
        crm.stopping.set()
        crm.join(timeout=90)

        assert exit_codes == {name: 0 for name in exit_codes}  # each stopped by itself, none killed
        assert crm.refused_without_status == []
        # A stopping gateway answers what it has read: a request is never dropped mid-answer
        # (only refused connections, while a gateway is down, go to the other one).
        assert "RemoteDisconnected" not in crm.failovers, crm.failovers
        assert set(crm.answers) <= {202, 503}, crm.answers
        accepted = list(crm.accepted.values())
        assert len(accepted) >= 20, (crm.answers, crm.failovers)
        assert len(set(accepted)) == len(accepted)  # no key made two accounts

        final = wait_final(stack.gateways[0], token, accepted, timeout=240)
        statuses = Counter(body["status"] for body in final.values())
        assert statuses == {"active": len(accepted)}, (statuses, len(final), len(accepted))
        status, listing, _ = call(f"{stack.gateways[1]}/api/v1/customer-accounts?per_page=1", token)
        assert status == 200 and listing["total"] == len(accepted)  # nothing made twice, nothing extra

        emails = Counter(message["To"] for message in stack.mail.wait_for(len(accepted), timeout=30))
        assert len(emails) == len(accepted) and set(emails.values()) == {1}  # one email each, none twice
        for body in final.values():
            assert [stage["state"] for stage in body["stages"]] == ["done"] * 4

        # The stages each worker ran when it was told to stop finished, done, before it exited.
        with db.database.connection_context():
            for name, (pids, told, exited) in in_flight.items():
                running_when_told = [
                    (attempt.stage, attempt.outcome, attempt.finished_at is not None and attempt.finished_at <= exited)
                    for attempt in StageAttempt.select().where(
                        (StageAttempt.started_at < told)
                        & (StageAttempt.finished_at.is_null() | (StageAttempt.finished_at > told))
                    )
                    if attempt.worker and int(attempt.worker.split(":")[1]) in pids
                ]
                assert running_when_told, f"{name} ran nothing when told to stop"
                assert {(outcome, in_grace) for _, outcome, in_grace in running_when_told} == {("done", True)}, (
                    name,
                    running_when_told,
                )
                in_flight[name] = len(running_when_told)
        print(f"stages running when told to stop, finished within the grace period, by worker: {in_flight}")
        print(
            f"{len(accepted)} accounts accepted during the roll; answers {dict(crm.answers)}; "
            f"sent to the other gateway after {dict(crm.failovers) or 'no'} connection failures"
        )
