"""`make bench` in a tiny configuration: it runs by itself, reports every figure, and every
account it pushed through reached `active`. No assertion on speed (DESIGN.md, Testing)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from bench import counts as bench_counts
from bench import databases as bench_databases
from bench import run as bench_run
from tests.support import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[1]

PHASES = [  # (phase, worker processes, access), in the order the bench runs them
    ("accept", 0, True),
    ("drain", 1, True),
    ("live", 1, True),
    ("accept", 0, True),
    ("drain", 2, True),
    ("live", 2, True),
    ("accept", 0, False),
    ("drain", 2, False),
    ("live", 2, False),
]
FIGURES = {
    "accept": ["accept_per_s", "post_p50_ms", "post_p95_ms"],
    "drain": ["flow_per_s", "span_s"],
    "live": ["accept_per_s", "post_p50_ms", "post_p95_ms", "flow_per_s", "e2e_p50_ms", "e2e_p95_ms", "offered_per_s"],
}

HEADLINE_SQLITE = [
    "accept_ratio",
    "chain_ratio_sqlite_1p",
    "chain_ratio_sqlite_2p",
    "e2e_ratio_sqlite_1p",
    "e2e_ratio_sqlite_2p",
    "list_p95_ms_100k",
    "customers_page_p95_ms_100k",
    "live_p95_ms",
    "worker_rss_mb",
    "gateway_rss_mb",
]
HEADLINE_POSTGRES = [
    "chain_ratio_postgres_1p",
    "chain_ratio_postgres_2p",
    "e2e_ratio_postgres_1p",
    "e2e_ratio_postgres_2p",
]


def run_bench(tmp_path, *args: str) -> tuple[dict, str]:
    """`python -m bench.run` with `args`, as a user runs it: (the JSON it wrote, what it printed)."""
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, "-m", "bench.run", *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return json.loads(out.read_text()), finished.stdout


def test_bench_reports_every_figure_and_every_account_becomes_active(tmp_path):
    report, printed = run_bench(tmp_path, "--accounts", "10", "--quick", "--timeout", "150")
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

    assert set(result["ratios"]) == {
        "workers_2_vs_1",
        "no_access_vs_access",
        "to_active_p50_1_vs_2",
        "to_active_p50_access_vs_no_access",
    }
    assert all(isinstance(value, float) and value > 0 for value in result["ratios"].values())
    assert set(result["memory"]) == {"gateway", "workers_1", "workers_2", "workers_2_no_access"}
    for peak in result["memory"].values():
        assert peak["processes"] >= 2 and peak["largest_mib"] > 10 and peak["total_mib"] >= peak["largest_mib"]
    # Two rounds with access, a drain and a live batch each: one credentials email per account.
    assert result["emails"] == {"expected": 40, "received": 40}

    # The floors, measured in the same run with the same settings as kamflow's figures.
    floors = [(f["floor"], f.get("workers")) for f in result["floors"]]
    assert floors == [
        ("endpoint", None),
        ("noop_chain", 1),
        ("durable_chain", 1),
        ("noop_chain", 2),
        ("durable_chain", 2),
    ]
    endpoint = result["floors"][0]
    assert endpoint["accepted"] == 10 and endpoint["refused"] == 0 and endpoint["accept_per_s"] > 0
    for chain in result["floors"][1:]:
        assert chain["chains"] == 40 and chain["chains_per_s"] > 0
    # The lists, timed with the organisation holding each number of stored accounts.
    assert [figures["stored"] for figures in result["lists"]] == [200, 1000]
    for figures in result["lists"]:
        for key in ("list_default_p95_ms", "list_filtered_p95_ms", "page_default_p95_ms", "page_search_p95_ms"):
            assert isinstance(figures[key], float) and figures[key] > 0, (key, figures)

    # The headline keys: every one in the file; those of the database measured are numbers.
    for key in HEADLINE_SQLITE:
        assert isinstance(report[key], (int, float)) and report[key] > 0, (key, report[key])
    for key in HEADLINE_POSTGRES:
        assert key in report and report[key] is None  # --quick: SQLite only
    assert report["list_p95_ms_100k"] == max(
        result["lists"][-1]["list_default_p95_ms"], result["lists"][-1]["list_filtered_p95_ms"]
    )
    assert report["worker_rss_mb"] == max(
        peak["largest_mib"] for key, peak in result["memory"].items() if key.startswith("workers")
    )

    for heading in (
        "accept/s",
        "POST p95",
        "active/s",
        "to active p95",
        "2 vs 1 worker process",
        "no access vs access",
        "peak RSS",
        "all accounts active: yes",
        "bare JSON endpoint",
        "durable 4-actor floor chain",
        "kamflow against its floors",
        *HEADLINE_SQLITE,
    ):
        assert heading in printed


def test_bench_only_accept_times_the_posts_beside_the_bare_endpoint(tmp_path):
    """`--only accept`: accept_ratio in a minute, the other figures left unmeasured (null)."""
    report, printed = run_bench(tmp_path, "--only", "accept", "--accounts", "10", "--quick")
    result = report["databases"]["sqlite"]
    [accept] = result["phases"]
    [endpoint] = result["floors"]
    assert accept["phase"] == "accept" and accept["accepted"] == 10
    assert endpoint["floor"] == "endpoint" and endpoint["accepted"] == 10
    assert abs(report["accept_ratio"] - accept["accept_per_s"] / endpoint["accept_per_s"]) < 1e-9
    for key in HEADLINE_SQLITE:
        if key not in ("accept_ratio", "gateway_rss_mb"):
            assert report[key] is None, (key, report[key])
    assert "accept_ratio" in printed


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--accounts", "0"], "argument --accounts: the value must be a finite number above 0, not '0'"),
        (["--accounts", "1.5"], "argument --accounts: the value must be a whole number, not '1.5'"),
        (["--concurrency", "-1"], "argument --concurrency: the value must be a finite number above 0, not '-1'"),
        (["--gateway-workers", "0"], "argument --gateway-workers: the value must be a finite number above 0"),
        (["--threads", "0"], "argument --threads: the value must be a finite number above 0"),
        (["--floor-chains", "0"], "argument --floor-chains: the value must be a finite number above 0"),
        (["--list-requests", "0"], "argument --list-requests: the value must be a finite number above 0"),
        (["--live-rate", "-5"], "argument --live-rate: the value must be a finite number above 0, not '-5'"),
        (["--live-rate", "nan"], "argument --live-rate: the value must be a finite number above 0, not 'nan'"),
        (["--timeout", "inf"], "argument --timeout: the value must be a finite number above 0, not 'inf'"),
        (["--timeout", "1e30"], "argument --timeout: the value must be at most 604800, not '1e30'"),
        (["--stored", "abc"], "argument --stored: each count of --stored must be a whole number, not 'abc'"),
        (
            ["--stored", "1000,-5"],
            "argument --stored: each count of --stored must be a finite number above 0, not '-5'",
        ),
    ],
)
def test_a_count_that_would_measure_nothing_is_refused_before_anything_starts(given, said, capsys):
    """A zero gateway worker waited for its health check until the hard timeout; a zero or
    negative rate offered the live load unthrottled; a zero client thread printed 0.0/s as a
    figure. Each is now refused by name, with what was given, as argparse refuses (exit 2)."""
    with pytest.raises(SystemExit) as exited:
        bench_run.parse_args(given)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_quick_fills_in_only_what_the_command_line_left_out():
    quick = bench_run.parse_args(["--quick", "--concurrency", "8", "--stored", "50"])
    assert (quick.concurrency, quick.stored) == (8, [50])  # given: kept
    assert (quick.accounts, quick.threads, quick.floor_chains, quick.list_requests) == (200, 2, 40, 5)
    full = bench_run.parse_args([])
    assert (full.accounts, full.concurrency, full.threads, full.floor_chains) == (1000, 4, 4, 1000)
    assert (full.stored, full.list_requests) == ([1000, 100_000], 40)


@pytest.mark.parametrize("command", ["bench.run", "bench.counts"])
@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "mysql://root@127.0.0.1/test",
            "BENCH_POSTGRES_URL must be a postgresql:// URL, not 'mysql://root@127.0.0.1/test'",
        ),
        (
            "postgresql://kamflow:s3cret@127.0.0.1:1/postgres",
            "cannot connect to postgresql://kamflow:***@127.0.0.1:1/postgres",
        ),
    ],
)
def test_a_wrong_bench_postgres_url_is_said_at_once_without_its_password(command, url, said, tmp_path):
    """Checked before the SQLite rounds, not after their minutes; the password never printed."""
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, "-m", command, *(["--json", str(out)] if command == "bench.run" else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BENCH_POSTGRES_URL": url},
    )
    assert finished.returncode == 1
    assert said in finished.stderr and "s3cret" not in finished.stderr + finished.stdout
    assert "bench: sqlite" not in finished.stdout and not out.exists()  # nothing ran
    assert "Traceback" not in finished.stderr


def test_bench_counts_refuses_a_count_of_zero(capsys):
    """`python -m bench.counts --accounts 0` divided by zero after its run; now refused first."""
    with pytest.raises(SystemExit) as exited:
        bench_counts.main(["--accounts", "0"])
    assert exited.value.code == 2
    assert "argument --accounts: the value must be a finite number above 0, not '0'" in capsys.readouterr().err


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL")
def test_a_bench_postgres_url_whose_user_may_not_create_databases_is_refused():
    import psycopg2

    role = f"kamflow_nocreate_{secrets.token_hex(3)}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
        parts = urllib.parse.urlsplit(POSTGRES_URL)
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        with pytest.raises(ValueError, match="its user may not create databases"):
            bench_databases.check_server(url)
        bench_databases.check_server(POSTGRES_URL)  # the suite's own user may
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
