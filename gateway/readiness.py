"""Readiness: /readyz answers 200 when the database and the broker answer, 503 naming which
does not, so an orchestrator stops routing requests to a gateway that would only leave accounts
`pending`. No authentication, like /healthz (liveness, gateway/health.py): so the answer names
the part that is down and nothing more, and the driver's error (host, port, role, database) goes
to the log, where operators look.
"""

from __future__ import annotations

import logging

import peewee
import redis
from flask import Blueprint, current_app, jsonify

from shared import db

log = logging.getLogger(__name__)

readiness = Blueprint("readiness", __name__)

TIMEOUT_S = 1.0


def check_database() -> str | None:
    """None when a trivial query runs, else "database unreachable" (the error is logged)."""
    try:
        db.database.connect(reuse_if_open=True)
        db.database.execute_sql("SELECT 1")
    except Exception as error:  # any driver's error is a reason to report, never a 500
        log.warning("readiness: database unreachable: %s: %s", type(error).__name__, error)
        return "database unreachable"
    return None


def check_broker(redis_url: str) -> str | None:
    if not redis_url:
        return "broker not configured: REDIS_URL is not set"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as error:
        log.warning("readiness: broker unreachable: %s", error)
        return "broker unreachable"
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
