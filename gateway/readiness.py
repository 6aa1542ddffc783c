"""Readiness: /readyz answers 200 when the database and the broker answer, 503 with the reason
when either does not, so an orchestrator stops routing requests to a gateway that would only
leave accounts `pending`. No authentication, like /healthz (liveness, gateway/health.py).
"""

from __future__ import annotations

import peewee
import redis
from flask import Blueprint, current_app, jsonify

from shared import db

readiness = Blueprint("readiness", __name__)

TIMEOUT_S = 1.0


def check_database() -> str | None:
    """None when a trivial query runs, else why not."""
    try:
        db.database.connect(reuse_if_open=True)
        db.database.execute_sql("SELECT 1")
    except Exception as error:  # any driver's error is a reason to report, never a 500
        return f"database unreachable: {type(error).__name__}: {error}".strip()
    return None


def check_broker(redis_url: str) -> str | None:
    if not redis_url:
        return "broker not configured: REDIS_URL is not set"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"broker unreachable: {error}"
    finally:
        client.close()
    return None


def report():
    problems = {
        name: reason
        for name, reason in (
            ("database", check_database()),
            ("broker", check_broker(current_app.config["KAMFLOW"].redis_url)),
        )
        if reason
    }
    if problems:
        return jsonify(status="unavailable", reasons=problems), 503
    return jsonify(status="ready", checks={"database": "ok", "broker": "ok"})


@readiness.get("/readyz")
def readyz():
    return report()


@readiness.errorhandler(peewee.DatabaseError)
def database_down(error):
    """The app opens its connection before every request; when that fails, still answer 503."""
    return report()
