"""What the operators' door tests share that is not a fixture: /ops's snapshot as an operator's
browser reads it, and one queue's counts in it (fixtures are in conftest.py)."""

from __future__ import annotations


def read_snapshot(browser) -> dict:
    """/ops/snapshot.json, the figures the page refreshes itself from, as `browser` sees them."""
    answer = browser.get("/ops/snapshot.json")
    assert answer.status_code == 200, answer.text
    return answer.get_json()


def queue(snapshot: dict, name: str) -> dict:
    return next(q for q in snapshot["queues"] if q["queue"] == name)
