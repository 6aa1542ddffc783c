"""The fault run: kamflow's promises checked while its parts are broken on purpose.

Real parts, as deployed: a redis-server (with or without an append-only file), two worker
"hosts" (each a `dramatiq workers.main` process group on the stage queues) and a delivery pool
(`--queues deliver_webhook`), the gateway under gunicorn, PostgreSQL or SQLite, an SMTP sink
and a webhook receiver with two organisations' endpoints. Accounts are POSTed through the HTTP
API at a steady rate (with an Idempotency-Key, retried like a CRM would on anything but a 202)
while a schedule of faults runs:

- SIGKILL of a random worker process, `kills` times (one of them a whole host's group), each
  dead group started again as a new one;
- Redis stopped for `redis_down_s` and started again (the gateway keeps accepting);
- the database refusing work: PostgreSQL's `pg_terminate_backend` on every kamflow connection,
  again and again for `db_down_s`; SQLite: another process holding the write lock that long;
- the SMTP server answering 451, then closing connections mid-conversation;
- the webhook receiver down and back.

Then, once every account is final and the system drained (no message queued, delayed or
unacknowledged, no webhook undelivered), it counts: per accepted request exactly one account,
final within `bound_s()` of the last fault; exactly one credentials email per account with
access, none for the others (counted at the SMTP server, by recipient); exactly one validly
signed 'account.active' webhook per active account, in order per endpoint; no stage run left
`running`; no dead letter. See README "Reliability" for the bound's formula.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
from standardwebhooks import Webhook, WebhookVerificationError
from support import drained, wait_until
from worker_processes import WorkerProcess

from kamflow.embedded_redis import EmbeddedRedis, free_port
from kamflow.mailcatcher import MailCatcher
from shared import db, queues, webhook_signing, webhooks, workflow

ROOT = Path(__file__).resolve().parent.parent

#: The clocks of the run (environment of every kamflow process). Retries outlast each fault,
#: so a fault delays an account but never fails it.
CLOCKS = {
    "MAX_RETRIES": "20",
    "MIN_BACKOFF_MS": "200",
    "MAX_BACKOFF_MS": "2000",
    "STAGE_TIME_LIMIT_MS": "10000",
    "STALL_AFTER_S": "15",
    "RECONCILE_INTERVAL_S": "1",
    "HEARTBEAT_TIMEOUT_MS": "10000",
    "MAINTENANCE_CHANCE": "100000",
    "WEBHOOK_MAX_RETRIES": "20",
    "WEBHOOK_MIN_BACKOFF_MS": "200",
    "WEBHOOK_MAX_BACKOFF_MS": "2000",
    "WEBHOOK_STALL_AFTER_S": "10",
    "WEBHOOK_TIMEOUT_S": "5",
}


def bound_s(clocks: dict = CLOCKS) -> float:
    """Longest an accepted account may take to be final after the last fault ended.

    A message lost with a killed worker or a restarted Redis comes back two ways: the broker's
    maintenance hands a dead worker's messages back after HEARTBEAT_TIMEOUT_MS, but only when
    maintenance runs (on MAINTENANCE_CHANCE per million broker commands, so only probably
    soon); the reconciler re-sends the due stage of any account that has not moved for
    STALL_AFTER_S, checking every RECONCILE_INTERVAL_S — certainly. So recovery takes at most
    S + I. A stage retrying a transient error waits at most MAX_BACKOFF_MS before its next
    try, and each of the 4 stages then runs within STAGE_TIME_LIMIT_MS:

        bound = STALL_AFTER_S + RECONCILE_INTERVAL_S + MAX_BACKOFF_MS + 4 x STAGE_TIME_LIMIT_MS
    """
    return (
        float(clocks["STALL_AFTER_S"])
        + float(clocks["RECONCILE_INTERVAL_S"])
        + int(clocks["MAX_BACKOFF_MS"]) / 1000
        + len(workflow.STAGES) * int(clocks["STAGE_TIME_LIMIT_MS"]) / 1000
    )


def webhook_bound_s(clocks: dict = CLOCKS) -> float:
    """Longest a webhook may take after the account is final and the faults are over: a retry
    in backoff, or a claim held by a killed delivery worker (its lease) found by the reconciler."""
    return (
        int(clocks["WEBHOOK_MAX_BACKOFF_MS"]) / 1000
        + webhooks.claim_lease_s(float(clocks["WEBHOOK_TIMEOUT_S"]))
        + float(clocks["WEBHOOK_STALL_AFTER_S"])
        + float(clocks["RECONCILE_INTERVAL_S"])
        + float(clocks["WEBHOOK_TIMEOUT_S"])
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    accounts: int
    rate_per_s: float
    kills: int
    redis_down_s: float
    db_down_s: float
    smtp_refuse_s: float
    smtp_drop_s: float
    receiver_down_s: float
    aof: bool = False
    hosts: int = 2


#: `make test` runs this one (well under a minute of load); `make test-faults` the full ones.
SHORT = Plan(
    accounts=60, rate_per_s=4, kills=3, redis_down_s=4, db_down_s=2, smtp_refuse_s=2, smtp_drop_s=2, receiver_down_s=3
)
FULL = Plan(
    accounts=1000,
    rate_per_s=8,
    kills=12,
    redis_down_s=10,
    db_down_s=5,
    smtp_refuse_s=5,
    smtp_drop_s=5,
    receiver_down_s=10,
)

ORGS = ("north", "south")


@dataclasses.dataclass
class Accepted:
    index: int
    org: str
    kind: str  # access | no_access | reject
    email: str
    account_id: int
    accepted_at: float  # time.time()


class WebhookReceiver:
    """Both organisations' CRMs (paths /north and /south): records every POST; can go down and
    come back on the same port."""

    def __init__(self):
        self.port = free_port()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = None
        self.start()

    def url(self, org: str) -> str:
        return f"http://127.0.0.1:{self.port}/{org}"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"org": self.path.strip("/"), "headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class Group:
    """One `dramatiq workers.main` process group: a host's workers."""

    def __init__(self, name: str, queue_names, processes: int, threads: int, env: dict, logs: Path):
        self.name, self.queue_names, self.processes, self.threads, self.env = name, queue_names, processes, threads, env
        self.logs = logs
        self.process: WorkerProcess | None = None
        self.starts = 0

    def start(self):
        self.starts += 1
        samples = self.logs / f"prometheus-{self.name}-{self.starts}"  # its exporter: own samples, any free port
        samples.mkdir()
        env = {
            **self.env,
            "dramatiq_prom_db": str(samples),
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": "0",
        }
        self.process = WorkerProcess(
            env,
            threads=self.threads,
            processes=self.processes,
            queues=self.queue_names,
            log_path=self.logs / f"{self.name}-{self.starts}.log",
            cwd=ROOT,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def kill_one(self) -> bool:
        """SIGKILL one worker process of the group (its parent then stops the rest)."""
        workers = _children(self.process.pid) if self.alive() else []
        if not workers:
            return False
        os.kill(random.choice(workers), signal.SIGKILL)
        return True

    def kill_all(self) -> bool:
        if not self.alive():
            return False
        os.killpg(self.process.pid, signal.SIGKILL)  # no wait: the supervisor starts a new group
        return True

    def stop(self):
        if self.process is not None:
            self.process.stop()


@dataclasses.dataclass
class Report:
    plan: Plan
    database: str
    accepted: int = 0
    active: int = 0
    rejected: int = 0
    emails: int = 0
    webhooks: int = 0
    duplicates: int = 0
    lost: int = 0
    kills: int = 0
    whole_host_kills: int = 0
    redis_restarts: int = 0
    database_outages: int = 0
    smtp_refused_s: float = 0
    smtp_dropped_s: float = 0
    receiver_outages: int = 0
    worst_to_final_s: float = 0.0
    worst_after_last_fault_s: float = 0.0
    bound_s: float = 0.0
    load_s: float = 0.0
    problems: list = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"fault run: {self.plan.accounts} requests at {self.plan.rate_per_s}/s, {self.database}, "
            f"Redis {'with' if self.plan.aof else 'without'} AOF, {self.plan.hosts} worker hosts",
            f"accepted {self.accepted}, active {self.active}, rejected {self.rejected}, emails {self.emails}, "
            f"'account.active' webhooks {self.webhooks}, duplicates {self.duplicates}, lost {self.lost}",
            f"kills {self.kills} (whole host {self.whole_host_kills}), Redis restarts {self.redis_restarts}, "
            f"database outages {self.database_outages}, SMTP refusing {self.smtp_refused_s:.0f} s + dropping "
            f"{self.smtp_dropped_s:.0f} s, webhook receiver outages {self.receiver_outages}",
            f"worst time to final {self.worst_to_final_s:.1f} s after acceptance, "
            f"{self.worst_after_last_fault_s:.1f} s after the last fault (bound {self.bound_s:.0f} s); load {self.load_s:.0f} s",
        ] + [f"PROBLEM: {p}" for p in self.problems]


def _request_body(index: int, org: str, kind: str, run: str) -> tuple[str, dict]:
    today = dt.date.today()
    email = f"c{index}-{run}@{org}.example"
    body = {
        "kam_email": f"kam@{org}.example",
        "customer": {
            "company": f"Company {index}",
            "customer_reference": f"R{index}",
            "last_name": "Martin",
            "first_name": "Claire",
            "phone": "+33 1 23 45 67 89",
            "email": email,
            "is_demo": False,
        },
        "setup": {"app_access": False},
    }
    if kind != "no_access":
        body["setup"] = {
            "app_access": True,
            "editor": "customer",
            "markets": [
                {
                    "market": "fr-power",
                    "start_date": today.isoformat(),
                    "end_date": (today + dt.timedelta(days=300)).isoformat(),
                    # A planted rule violation: no manager forecast exists for fr-power -> rejected.
                    "forecasts": ["application", "manager"] if kind == "reject" else ["application"],
                    "max_optimisations": 1,
                }
            ],
        }
    return email, body


class FaultRun:
    def __init__(self, plan: Plan, database_url: str, workdir: Path):
        self.plan, self.database_url, self.workdir = plan, database_url, workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.report = Report(
            plan=plan, database="PostgreSQL" if database_url.startswith("postgres") else "SQLite", bound_s=bound_s()
        )
        self.accepted: dict[int, Accepted] = {}
        self.accepted_lock = threading.Lock()
        self.run_id = f"{int(time.time())}"
        self.fault_ends: list[float] = []
        self.stopping = threading.Event()
        # What `start` starts, in order; `stop` stops what it got to (it may fail half-way).
        self.redis = self.smtp = self.receiver = self.gateway = self.delivery = None
        self.hosts: list[Group] = []

    # --- the system --------------------------------------------------------------------------

    def start(self, tokens_and_kams):
        self.redis = EmbeddedRedis(directory=self.workdir / "redis", appendonly=self.plan.aof).start()
        self.smtp = MailCatcher().start()
        self.receiver = WebhookReceiver()
        self.port = free_port()
        self.env = {
            **os.environ,
            **CLOCKS,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "SMTP_URL": self.smtp.url,
            "SECRET_KEY": "fault-run-secret-00000000000000000000000000000000",
            "BASE_URL": f"http://127.0.0.1:{self.port}",
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "API_RATE_LIMIT": "1000000 per minute",
        }
        self.tokens = tokens_and_kams
        with open(self.logs / "gateway.log", "wb") as log:  # the gateway writes to its own copy
            self.gateway = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--no-control-socket",
                    "gateway.wsgi:app",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.hosts = [
            Group(f"host{n}", queues.stage_pool_queues(), 2, 2, self.env, self.logs) for n in range(self.plan.hosts)
        ]
        self.delivery = Group("deliveries", queues.DELIVERY_QUEUES, 1, 2, self.env, self.logs)
        for group in self.hosts + [self.delivery]:
            group.start()
        self.secrets = {org: self._register_webhook(org) for org in ORGS}
        threading.Thread(target=self._supervise, daemon=True).start()

    def _http(self, method: str, path: str, org: str, body=None, headers=None, timeout=30.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body) if body is not None else None,
                headers={
                    "Authorization": f"Bearer {self.tokens[org]}",
                    "Content-Type": "application/json",
                    **(headers or {}),
                },
            )
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def _register_webhook(self, org: str) -> str:
        def registered():
            try:
                status, body = self._http("PUT", "/api/v1/webhook", org, {"url": self.receiver.url(org)})
            except OSError:
                return None
            return json.loads(body)["secret"] if status == 201 else None

        return wait_until(registered, 30, "the gateway did not start", interval=0.2)

    def _supervise(self):
        """Start again any worker group that died (a killed process takes its group down)."""
        while not self.stopping.is_set():
            for group in self.hosts + [self.delivery]:
                if not group.alive():
                    group.start()
            time.sleep(0.3)

    def stop(self):
        self.stopping.set()
        for group in [*self.hosts, self.delivery]:
            if group is not None:
                group.stop()
        if self.gateway is not None and self.gateway.poll() is None:
            os.killpg(self.gateway.pid, signal.SIGTERM)
            self.gateway.wait(timeout=20)
        for service in (self.receiver, self.smtp, self.redis):
            if service is not None:
                service.stop()

    # --- the load ----------------------------------------------------------------------------

    def _load(self, started: float, indexes, lock):
        while True:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            time.sleep(max(0.0, started + index / self.plan.rate_per_s - time.monotonic()))
            org = ORGS[index % 2]
            kind = "reject" if index % 10 == 9 else "no_access" if index % 10 in (7, 8) else "access"
            email, body = _request_body(index, org, kind, self.run_id)
            give_up = time.monotonic() + 120
            while True:  # a CRM retries with the same key until it gets its 202
                try:
                    status, answer = self._http(
                        "POST",
                        "/api/v1/customer-accounts",
                        org,
                        body,
                        {"Idempotency-Key": f"fault-{self.run_id}-{index}"},
                        timeout=15,
                    )
                except OSError:
                    status, answer = None, b""
                if status == 202:
                    account_id = json.loads(answer)["id"]
                    with self.accepted_lock:
                        self.accepted[index] = Accepted(index, org, kind, email, account_id, time.time())
                    break
                if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
                    self.report.problems.append(f"request {index} refused with {status}: {answer[:200]!r}")
                    break
                if time.monotonic() > give_up:
                    self.report.problems.append(f"request {index} never accepted (last answer {status})")
                    break
                time.sleep(0.5)

    # --- the faults --------------------------------------------------------------------------

    def _at(self, started: float, fraction: float):
        time.sleep(max(0.0, started + fraction * self.load_s - time.monotonic()))

    def _kills(self, started: float):
        moments = sorted(random.uniform(0.05, 0.9) for _ in range(self.plan.kills))
        whole_host = random.randrange(self.plan.kills)
        for n, moment in enumerate(moments):
            self._at(started, moment)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # a group just killed may still be starting again
                if n == whole_host:
                    hosts = [g for g in self.hosts if g.alive()]
                    killed = bool(hosts) and random.choice(hosts).kill_all()
                    self.report.whole_host_kills += killed
                else:
                    groups = [g for g in self.hosts + [self.delivery] if g.alive()]
                    killed = bool(groups) and random.choice(groups).kill_one()
                if killed:
                    self.report.kills += 1
                    self.fault_ends.append(time.time())
                    break
                time.sleep(0.2)

    def _redis_outage(self, started: float):
        self._at(started, 0.25)
        self.redis.stop()
        time.sleep(self.plan.redis_down_s)
        self.redis.start()
        self.report.redis_restarts += 1
        self.fault_ends.append(time.time())

    def _database_outage(self, started: float):
        self._at(started, 0.45)
        if self.database_url.startswith("postgres"):
            killer = db.open_database(self.database_url)
            ends = time.monotonic() + self.plan.db_down_s
            with killer.connection_context():
                while time.monotonic() < ends:
                    killer.execute_sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    time.sleep(0.05)
            killer.close_all()
        else:
            path = self.database_url.removeprefix("sqlite:///")
            holder = sqlite3.connect(path, timeout=30, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")  # another process's long write: every writer waits, then fails
            time.sleep(self.plan.db_down_s)
            holder.execute("COMMIT")
            holder.close()
        self.report.database_outages += 1
        self.fault_ends.append(time.time())

    def _smtp_faults(self, started: float):
        self._at(started, 0.6)
        self.smtp.refuse_for(self.plan.smtp_refuse_s)
        time.sleep(self.plan.smtp_refuse_s)
        self.smtp.drop_for(self.plan.smtp_drop_s)
        time.sleep(self.plan.smtp_drop_s)
        self.report.smtp_refused_s, self.report.smtp_dropped_s = self.plan.smtp_refuse_s, self.plan.smtp_drop_s
        self.fault_ends.append(time.time())

    def _receiver_outage(self, started: float):
        self._at(started, 0.7)
        self.receiver.stop()
        time.sleep(self.plan.receiver_down_s)
        self.receiver.start()
        self.report.receiver_outages += 1
        self.fault_ends.append(time.time())

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> Report:
        self.load_s = self.plan.accounts / self.plan.rate_per_s
        started = time.monotonic()
        load_started = time.time()
        indexes, lock = iter(range(self.plan.accounts)), threading.Lock()
        threads = [threading.Thread(target=self._load, args=(started, indexes, lock), daemon=True) for _ in range(8)]
        threads += [
            threading.Thread(target=fault, args=(started,), daemon=True)
            for fault in (
                self._kills,
                self._redis_outage,
                self._database_outage,
                self._smtp_faults,
                self._receiver_outage,
            )
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.report.load_s = time.time() - load_started
        last_fault = max(self.fault_ends)
        self._wait_final(last_fault)
        self._wait_drained(last_fault + self.report.bound_s + webhook_bound_s())
        self._count(last_fault)
        return self.report

    def _wait_final(self, last_fault: float):
        from shared.models import CustomerAccount

        db.bind(self.database_url)  # a fresh pool: the outage terminated the old connections
        ids = [a.account_id for a in self.accepted.values()]
        while True:
            with db.database.connection_context():
                waiting = (
                    CustomerAccount.select()
                    .where(CustomerAccount.id.in_(ids) & CustomerAccount.status.not_in(workflow.FINAL_STATUSES))
                    .count()
                )
            if not waiting:
                return
            if time.time() > last_fault + self.report.bound_s:
                self.report.problems.append(
                    f"{waiting} account(s) not final {self.report.bound_s:.0f} s after the last fault"
                )
                return
            time.sleep(0.5)

    def _drained(self, client) -> bool:
        try:
            return drained(client)
        except redis.RedisError:
            return False

    def _wait_drained(self, until: float):
        client = redis.Redis.from_url(self.redis.url)
        while not self._drained(client):
            if time.time() > until:
                self.report.problems.append("the system did not drain (messages or webhooks still pending)")
                return
            time.sleep(0.5)

    def _count(self, last_fault: float):
        from shared.models import CustomerAccount, StageRun, WebhookDelivery

        report = self.report
        report.accepted = len(self.accepted)
        with db.database.connection_context():
            by_email: dict[str, list[CustomerAccount]] = {}
            for account in CustomerAccount.select():
                by_email.setdefault(account.email, []).append(account)
            row_ids = {str(d.delivery_id): d.id for d in WebhookDelivery.select()}
            running = StageRun.select().where(StageRun.state == workflow.RUNNING).count()
        emails_to: dict[str, int] = {}
        for message in self.smtp.messages:
            emails_to[message["To"]] = emails_to.get(message["To"], 0) + 1
        report.emails = sum(emails_to.values())
        active_events: dict[int, set[str]] = {}
        arrivals: dict[str, list[int]] = {org: [] for org in ORGS}
        for request in self.receiver.requests:
            body, headers = request["body"], request["headers"]
            try:  # as the receiver does, with the Standard Webhooks library
                Webhook(self.secrets[request["org"]]).verify(body, headers)
            except WebhookVerificationError:
                report.problems.append(f"a webhook to {request['org']} failed its signature check")
                continue
            event = json.loads(body)
            if event["event"] == "account.active":
                delivery = {k.lower(): v for k, v in headers.items()}[webhook_signing.ID_HEADER]
                if delivery not in active_events.setdefault(event["account"]["id"], set()):
                    arrivals[request["org"]].append(row_ids.get(delivery, -1))
                active_events[event["account"]["id"]].add(delivery)
        report.webhooks = sum(len(v) for v in active_events.values())
        for org, order in arrivals.items():
            if order != sorted(order):
                report.problems.append(f"{org}'s 'account.active' webhooks arrived out of order")
        worst = 0.0
        finals = []
        for request in self.accepted.values():
            accounts = by_email.get(request.email, [])
            if not accounts:
                report.lost += 1
                report.problems.append(f"request {request.index} accepted as account {request.account_id}: no account")
                continue
            report.duplicates += len(accounts) - 1
            account = accounts[0]
            expected = workflow.REJECTED if request.kind == "reject" else workflow.ACTIVE
            if account.status != expected:
                report.lost += 1
                report.problems.append(f"account {account.id} ({request.kind}) is {account.status}, not {expected}")
                continue
            report.active += account.status == workflow.ACTIVE
            report.rejected += account.status == workflow.REJECTED
            final_at = account.updated_at.replace(tzinfo=dt.UTC).timestamp()
            worst = max(worst, final_at - request.accepted_at)
            finals.append(final_at)
            wanted = 1 if request.kind == "access" else 0
            got = emails_to.get(request.email, 0)
            if got != wanted:
                report.duplicates += max(0, got - wanted)
                report.problems.append(
                    f"account {account.id} ({request.kind}): {got} credentials email(s), not {wanted}"
                )
            events = len(active_events.get(account.id, ()))
            if events != (1 if expected == workflow.ACTIVE else 0):
                report.duplicates += max(0, events - 1)
                report.problems.append(f"account {account.id} ({request.kind}): {events} 'account.active' webhook(s)")
        report.worst_to_final_s = worst
        report.worst_after_last_fault_s = max(0.0, max(finals, default=last_fault) - last_fault)
        if running:
            report.problems.append(f"{running} stage run(s) left running")
        client = redis.Redis.from_url(self.redis.url)
        dead = sum(client.zcard(queues.dead_key(q)) for q in queues.queue_names())
        if dead:
            report.problems.append(f"{dead} dead letter(s) left")
        if report.duplicates:
            report.problems.append(f"{report.duplicates} duplicate(s)")
