"""/ops' charts: drawn on the server as SVG (no script, nothing fetched from elsewhere), part of
the panel that refreshes, and showing what happened: accounts accepted and reaching active per
minute, stage p95, and the queue depth sampled from the broker."""

from __future__ import annotations

import datetime as dt
import json
import re

from browser import text_of
from support import account_request, wait_until

from gateway.ops.charts import line_chart, nice_ceiling
from shared import db, trends


def no_access(n: int) -> dict:
    return account_request(
        **{
            "setup": {"app_access": False},
            "customer.email": f"c{n}@foundry.example",
            "customer.customer_reference": f"R{n}",
        }
    )


def chart(page: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart-figure"><svg class="chart" id="{chart_id}".*?</figure>', page, flags=re.S)
    assert match, f"no chart {chart_id}"
    return match.group(0)


def test_accounts_and_stage_durations_are_charted_and_refresh_with_the_panel(ops, api, worker):
    ids = [api.create(no_access(n)).get_json()["id"] for n in range(3)]
    for account_id in ids:
        assert api.wait_for_status(account_id)["status"] == "active"
    with db.database.connection_context():
        counted = trends.accounts_per_minute(trends.WINDOWS["hour"])
    assert sum(counted["accepted"]) == 3 and sum(counted["active"]) == 3  # one-minute buckets: rates are counts
    assert len(counted["starts"]) == 60 and counted["starts"][-1] <= dt.datetime.utcnow()

    for path in ("/ops", "/ops/panel"):  # the page, and the panel it refreshes itself with
        page = ops.get(path).text
        accounts = chart(page, "chart-accounts")
        assert "<script" not in accounts and "http" not in accounts.replace("http://www.w3.org", "")
        assert 'data-series="accepted"' in accounts and 'data-series="reaching active"' in accounts
        assert "Accounts per minute, last hour" in text_of(accounts)
        p95 = chart(page, "chart-p95")
        assert re.search(r'class="series series-0"[^>]*(points|cx)=', p95)  # validate_customer has a duration
        assert "validate_customer: latest" in text_of(p95)
    day = ops.get("/ops?window=day")
    assert day.status_code == 200 and "Accounts per minute, last day" in text_of(day.text)
    assert 'data-url="/ops/panel?window=day"' in day.text
    refused = ops.get("/ops?window=week")
    assert refused.status_code == 400 and "Unknown window" in refused.text


def test_the_queue_depth_chart_shows_the_backlog_sampled_from_the_broker(ops, api, redis_client):
    """No worker: the accepted accounts wait on the first queue; looking at /ops samples it."""
    for n in range(2):
        assert api.create(no_access(n)).status_code == 202
    page = ops.get("/ops").text
    queues = text_of(chart(page, "chart-queues"))
    assert "ready: latest 2, peak 2" in queues and "delayed: latest 0" in queues
    # At most one sample per SAMPLE_EVERY_S, however many people look.
    ops.get("/ops")
    ops.get("/ops/panel")
    assert redis_client.llen(trends.SAMPLES_KEY) == 1


def test_a_gap_in_the_samples_is_drawn_as_a_gap_not_a_zero():
    starts = [dt.datetime(2026, 1, 1, 12, i) for i in range(5)]
    svg = str(line_chart("Queue depth", starts, [("ready", [1, 2, None, 4, 5])], str, chart_id="c"))
    assert svg.count("<polyline") == 2
    assert 'aria-labelledby="c-title c-desc"' in svg and "ready: latest 5, peak 5" in svg
    assert [nice_ceiling(v) for v in (0, 0.3, 3, 7, 12, 480)] == [1, 0.5, 5, 10, 20, 500]


def test_the_workers_sample_the_queue_depth_when_nobody_looks(worker, redis_client):
    """The reconciler pass samples it: the chart has data for the hours nobody had /ops open."""
    wait_until(
        lambda: redis_client.llen(trends.SAMPLES_KEY) >= 1,
        timeout=10,
        message="no queue-depth sample from the workers' reconciler",
    )
    sample = json.loads(redis_client.lindex(trends.SAMPLES_KEY, 0))
    assert sample["ready"] == 0 and sample["delayed"] == 0 and sample["t"] > 0


def test_a_window_given_twice_is_refused_naming_it_not_read_as_the_first(ops):
    """Before: `?window=day&window=hour` drew the last day's charts, silently."""
    for path in ("/ops", "/ops/panel"):
        refused = ops.get(f"{path}?window=day&window=hour")
        assert refused.status_code == 400
        assert "The address gives the parameter 'window' 2 times. Give this parameter once." in text_of(refused.text)
        assert "last day" not in text_of(refused.text)
