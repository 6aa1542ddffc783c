"""Prometheus: the gateway's /metrics (guarded) and the workers' exporter, scraped before and
after real traffic, each counter checked to have moved by exactly what happened."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import account_request, wait_until
from worker_processes import worker_env

from kamflow.embedded_redis import free_port

TOKEN = "metrics-secret-for-tests"


def samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def scrape(app, client):
    app.config["METRICS_TOKEN"] = TOKEN

    def get():
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text
        return samples(answer.text)

    return get


def test_metrics_need_the_token_or_an_operators_session(app, client, ops):
    app.config["METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert ops.get("/metrics").status_code == 200
    app.config["METRICS_TOKEN"] = ""  # unset: never open, only a session gets in
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_gateway_counters_move_by_what_was_requested(app, api, scrape, broker):
    route = "/api/v1/customer-accounts"
    before = scrape()
    for n in range(2):
        assert (
            api.create(
                account_request(**{"customer.email": f"c{n}@foundry.example", "customer.customer_reference": f"R{n}"})
            ).status_code
            == 202
        )
    assert api.create(account_request(**{"customer.phone": "not a phone"})).status_code == 422
    assert api.get("/api/v1/customer-accounts/999").status_code == 404
    after = scrape()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kamflow_http_requests_total", endpoint=route, method="POST", status="202") == 2
    assert moved("kamflow_http_requests_total", endpoint=route, method="POST", status="422") == 1
    one = app.url_map.bind("localhost").match("/api/v1/customer-accounts/999", method="GET", return_rule=True)[0].rule
    assert moved("kamflow_http_requests_total", endpoint=one, method="GET", status="404") == 1  # the rule, not the id
    assert moved("kamflow_http_request_duration_seconds_count", endpoint=route, method="POST") == 3
    assert moved("kamflow_accounts_accepted_total") == 2
    assert value(after, "kamflow_accounts", status="pending") == 2


@pytest.mark.slow
def test_a_made_up_method_counts_as_other_and_adds_no_series(client, scrape):
    """Before: each method name a client made up (`client.open(method="X1")`, "X2", ...) was a
    new label value, a new series kept for good: any client could grow the gateway's memory and
    every scrape without bound."""
    before = scrape()
    for n in range(20):
        assert client.open("/healthz", method=f"PROBE{n}").status_code == 405
    after = scrape()
    assert not [key for key in after if any(v.startswith("PROBE") for _, v in key[1])]
    counted = dict(endpoint="unmatched", method="other", status="405")
    assert (
        value(after, "kamflow_http_requests_total", **counted) - value(before, "kamflow_http_requests_total", **counted)
        == 20
    )


def test_worker_exporter_counts_dramatiq_messages_and_accounts_reaching_each_final_status(
    settings, api, mailbox, tmp_path, worker_processes
):
    port = free_port()
    env = worker_env(
        settings,
        mailbox.url,
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(port),
        dramatiq_prom_db=str(tmp_path / "prom"),
    )
    (tmp_path / "prom").mkdir()
    worker_processes(env, threads=2)

    def scrape_worker():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
                return samples(answer.read().decode())
        except OSError:
            return None

    before = wait_until(scrape_worker, timeout=30, message="the workers' exporter never answered")
    mailbox.refuse_next(3)
    failed = api.create(account_request()).get_json()["id"]
    assert api.wait_for_status(failed, timeout=30)["status"] == "failed"
    active = api.create(
        account_request(
            **{
                "setup": {"app_access": False},
                "customer.email": "a@foundry.example",
                "customer.customer_reference": "R2",
            }
        )
    ).get_json()["id"]
    rejected = api.create(
        account_request(
            **{
                "setup.markets.1.forecasts": ["application", "manager"],
                "customer.email": "r@foundry.example",
                "customer.customer_reference": "R3",
            }
        )
    ).get_json()["id"]
    assert api.wait_for_status(active, timeout=30)["status"] == "active"
    assert api.wait_for_status(rejected, timeout=30)["status"] == "rejected"

    def settled():
        scraped = scrape_worker()
        return scraped if scraped and value(scraped, "kamflow_accounts_final_total", status="rejected") >= 1 else None

    after = wait_until(settled, timeout=10)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kamflow_accounts_final_total", status="active") == 1
    assert moved("kamflow_accounts_final_total", status="rejected") == 1
    assert moved("kamflow_accounts_final_total", status="failed") == 1
    stage = {"queue_name": "validate_customer", "actor_name": "validate_customer"}
    assert moved("dramatiq_messages_total", **stage) == 3
    assert moved("dramatiq_message_duration_milliseconds_count", **stage) == 3
    sending = {"queue_name": "send_credentials", "actor_name": "send_credentials"}
    assert moved("dramatiq_message_errors_total", **sending) == 3  # the first try and two retries
    assert moved("dramatiq_message_retries_total", **sending) >= 2
    assert moved("dramatiq_message_rejects_total", **sending) == 1  # dead-lettered once
    assert value(after, "dramatiq_messages_inprogress", **sending) == 0
