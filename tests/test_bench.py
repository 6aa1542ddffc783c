"""`make bench` in a tiny configuration: it runs by itself, reports every figure, and every
account it pushed through reached `active`. No assertion on speed (DESIGN.md, Testing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES = [  # (phase, worker processes, access), in the order the bench runs them
    ("accept", 0, True), ("drain", 1, True), ("live", 1, True),
    ("accept", 0, True), ("drain", 2, True), ("live", 2, True),
    ("accept", 0, False), ("drain", 2, False), ("live", 2, False),
]
FIGURES = {
    "accept": ["accept_per_s", "post_p50_ms", "post_p95_ms"],
    "drain": ["flow_per_s", "span_s"],
    "live": ["accept_per_s", "post_p50_ms", "post_p95_ms", "flow_per_s", "e2e_p50_ms", "e2e_p95_ms", "offered_per_s"],
}


def test_bench_reports_every_figure_and_every_account_becomes_active(tmp_path):
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, "-m", "bench.run", "--accounts", "10", "--quick", "--timeout", "90", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["complete"] and report["error"] is None
    assert report["all_active"] is True
    assert list(report["databases"]) == ["sqlite"]
    result = report["databases"]["sqlite"]

    assert [(f["phase"], f["workers"], f["access"]) for f in result["phases"]] == PHASES
    for figures in result["phases"]:
        assert figures["accounts"] == 10
        for key in FIGURES[figures["phase"]]:
            assert isinstance(figures[key], (int, float)) and figures[key] > 0, (figures["phase"], key, figures)
        if figures["phase"] == "accept":
            assert figures["accepted"] == 10 and figures["refused"] == 0
        else:
            assert (figures["active"], figures["rejected"], figures["failed"]) == (10, 0, 0)

    assert set(result["ratios"]) == {"workers_2_vs_1", "no_access_vs_access", "to_active_p50_1_vs_2",
                                     "to_active_p50_access_vs_no_access"}
    assert all(isinstance(value, float) and value > 0 for value in result["ratios"].values())
    assert set(result["memory"]) == {"gateway", "workers_1", "workers_2", "workers_2_no_access"}
    for peak in result["memory"].values():
        assert peak["processes"] >= 2 and peak["largest_mib"] > 10 and peak["total_mib"] >= peak["largest_mib"]
    # Two rounds with access, a drain and a live batch each: one credentials email per account.
    assert result["emails"] == {"expected": 40, "received": 40}

    printed = finished.stdout
    for heading in ("accept/s", "POST p95", "active/s", "to active p95", "2 vs 1 worker process",
                    "no access vs access", "peak RSS", "all accounts active: yes"):
        assert heading in printed
