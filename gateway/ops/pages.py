"""/ops: the page, the fragment it refreshes itself with, its JSON twin, and the buttons."""

from __future__ import annotations

import logging

import dramatiq
import redis
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from gateway.ops import charts
from gateway.ops.access import account_scope, is_operator, operator_required, ops_required, visible
from gateway.page_query import query_value
from shared import dead_letters, maintenance, observability, operations, queues, trends
from shared.models import CustomerAccount, WebhookEndpoint, utcnow

log = logging.getLogger(__name__)

ops = Blueprint("ops", __name__, url_prefix="/ops")

REFRESH_SECONDS = 5


def seconds(value: float | None) -> str:
    """A duration as an operator reads it: 85 ms, 1.4 s, 3 min 20 s."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


@ops.context_processor
def helpers():
    return {"seconds": seconds, "now_utc": lambda: utcnow().strftime("%H:%M:%S")}


def _client():
    return dramatiq.get_broker().client


def snapshot() -> dict:
    """Everything /ops shows. The database part always; the broker part, or why it is missing."""
    scope = account_scope()
    data = {
        "accounts_by_status": observability.accounts_by_status(scope),
        "stages": observability.stage_stats(),
        "problems": observability.problem_accounts(scope),
        "broker_error": None,
        "queues": [],
        "workers": [],
        "dead_letters": [],
        "maintenance": [
            {
                "day": run["day"].isoformat(),
                "started_at": run["started_at"].isoformat() + "Z",
                "finished_at": run["finished_at"].isoformat() + "Z" if run["finished_at"] else None,
                "summary": run["summary"] or {},
            }
            for run in maintenance.recent_runs_of(current_user.user.organisation_id)
        ],
    }
    try:
        client = _client()
        data["queues"] = observability.queue_depths(client)
        trends.record_queue_depths(client, data["queues"])
        data["workers"] = observability.workers(client)
        if is_operator():
            data["dead_letters"] = _in_scope(dead_letters.list_dead(client), scope)
    except redis.RedisError as error:
        data["broker_error"] = f"the broker is unreachable: {error}"
    data["workers_summary"] = observability.workers_summary(data["workers"])
    return data


def _window() -> trends.Window:
    name = query_value("window", "hour")
    if name not in trends.WINDOWS:
        abort(400, description=f"Unknown window {name!r}: choose one of {', '.join(trends.WINDOWS)}.")
    return trends.WINDOWS[name]


def trend_charts(window: trends.Window, broker_error: str | None) -> list:
    """The charts of the panel: accounts per minute, stage p95, queue depth (SVG, server-side)."""
    accounts = trends.accounts_per_minute(window, account_scope())
    durations = trends.stage_p95(window)
    found = [
        charts.line_chart(
            f"Accounts per minute, {window.label}",
            accounts["starts"],
            [("accepted", accounts["accepted"]), ("reaching active", accounts["active"])],
            lambda v: f"{v:.3g}",
            chart_id="chart-accounts",
        ),
        charts.line_chart(
            f"Stage p95 duration, {window.label}",
            durations["starts"],
            [(name, line) for name, line in durations["stages"].items()],
            seconds,
            chart_id="chart-p95",
        ),
    ]
    if broker_error is None:
        depth = trends.queue_depth(_client(), window)
        found.append(
            charts.line_chart(
                f"Queue depth (messages, all queues), {window.label}",
                depth["starts"],
                [("ready", depth["ready"]), ("delayed", depth["delayed"])],
                lambda v: f"{v:.0f}",
                chart_id="chart-queues",
            )
        )
    return found


def _panel_context() -> dict:
    window = _window()
    data = snapshot()
    try:
        found = trend_charts(window, data["broker_error"])
    except redis.RedisError:
        found = trend_charts(window, "the broker is unreachable")
    return {"data": data, "operator": is_operator(), "charts": found, "window": window, "windows": trends.WINDOWS}


@ops.get("")
@ops_required
def page():
    return render_template("ops/page.html", refresh=REFRESH_SECONDS, **_panel_context())


@ops.get("/panel")
@ops_required
def panel():
    """The live part of the page, re-fetched every few seconds by ops.js."""
    return render_template("ops/_panel.html", **_panel_context())


@ops.get("/snapshot.json")
@ops_required
def snapshot_json():
    data = snapshot()
    data["dead_letters"] = [
        {
            "queue": d.queue,
            "id": d.redis_id,
            "actor": d.actor,
            "account_id": d.account_id,
            "dead_at": d.dead_at.isoformat(),
            "attempts": d.attempts,
            "error": d.error,
        }
        for d in data["dead_letters"]
    ]
    for problem in data["problems"]:
        problem["updated_at"] = problem["updated_at"].isoformat()
    return jsonify(data)


@ops.get("/accounts/<int:account_id>")
@ops_required
def timeline(account_id: int):
    account = visible(account_id)
    if account is None:
        abort(404, description=f"No customer account {account_id}.")
    return render_template("ops/timeline.html", account=observability.timeline(account))


@ops.post("/accounts/<int:account_id>/retry")
@ops_required
def retry(account_id: int):
    if visible(account_id) is None:
        abort(404, description=f"No customer account {account_id}.")
    try:
        stage = dead_letters.retry_account(_client(), account_id)
    except operations.NoSuchAccount:
        abort(404, description=f"No customer account {account_id}.")
    except operations.CannotRetry as error:
        flash(f"Not retried: {error}.", "error")
        return redirect(_back(), 303)
    except redis.RedisError as error:
        flash(f"Not retried: the broker is unreachable ({error}).", "error")
        return redirect(_back(), 303)
    log.info(
        "operator %s retried the account from %s",
        current_user.email,
        stage,
        extra={"account_id": account_id, "stage": stage},
    )
    flash(f"Account {account_id}: {stage} sent again.", "success")
    return redirect(_back(), 303)


@ops.post("/dead-letters/<queue>/<redis_id>/requeue")
@operator_required
def requeue(queue: str, redis_id: str):
    return _act_on_dead_letter(queue, redis_id, "requeue")


@ops.post("/dead-letters/<queue>/<redis_id>/discard")
@operator_required
def discard(queue: str, redis_id: str):
    return _act_on_dead_letter(queue, redis_id, "discard")


def _in_scope(letters: list, scope) -> list:
    """The dead letters of the person's organisation: a stage message names its account, a
    webhook message its endpoint."""
    ids = {letter.account_id for letter in letters if letter.account_id is not None}
    accounts = {a.id for a in scope.where(CustomerAccount.id.in_(ids or [0])).select(CustomerAccount.id)}
    endpoint_ids = {
        letter.args[0]
        for letter in letters
        if letter.actor == queues.DELIVER_WEBHOOK and letter.args and isinstance(letter.args[0], int)
    }
    endpoints = {
        e.id
        for e in WebhookEndpoint.select(WebhookEndpoint.id).where(
            WebhookEndpoint.id.in_(endpoint_ids or [0])
            & (WebhookEndpoint.organisation == current_user.user.organisation_id)
        )
    }
    return [
        letter
        for letter in letters
        if letter.account_id in accounts
        or (letter.actor == queues.DELIVER_WEBHOOK and letter.args and letter.args[0] in endpoints)
    ]


def _act_on_dead_letter(queue: str, redis_id: str, action: str):
    try:
        if not _in_scope([dead_letters.get(_client(), queue, redis_id)], account_scope()):
            raise dead_letters.NotFound(f"no dead message {redis_id} on {queue}")
        if action == "requeue":
            done = dead_letters.requeue(_client(), queue, redis_id)
        else:
            letter = dead_letters.discard(_client(), queue, redis_id)
            done = f"{letter.actor} message {letter.message_id} discarded"
    except dead_letters.NotFound as error:
        abort(404, description=f"{error}.")
    except operations.CannotRetry as error:
        flash(f"Not requeued: {error}.", "error")
        return redirect(_back(), 303)
    except redis.RedisError as error:
        flash(f"Nothing done: the broker is unreachable ({error}).", "error")
        return redirect(_back(), 303)
    log.info("operator %s: %s", current_user.email, done, extra={"queue": queue})
    flash(done[0].upper() + done[1:] + ".", "success")
    return redirect(_back(), 303)


def _back() -> str:
    """Back to /ops, or to the timeline the button was on."""
    target = request.form.get("back", "")
    return target if target.startswith("/ops") and not target.startswith("//") else url_for("ops.page")
