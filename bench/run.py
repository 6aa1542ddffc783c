"""`python -m bench.run` (or `make bench`, with BENCH_ARGS): run the phases, print the report.

For each database (SQLite always; PostgreSQL too when BENCH_POSTGRES_URL is set, in a database
made for the run and dropped after it), three rounds — access with 1 worker process, access
with 2, no access with 2 — each accepting a batch with no worker running, draining it, then a
live batch at a steady rate (see bench.phases), each beside its floor (see bench.floors); then
the lists with many accounts stored (see bench.lists; `--only lists` runs that part alone, `--only
accept` the first accept beside the bare endpoint).
Figures, never verdicts. Exit status: 0 when every phase ran and every account became active, 1
otherwise, 2 on the hard timeout, 130 on Ctrl-C or SIGTERM; every process started is stopped in
all cases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import arguments, databases, floors, lists, organisation, phases, report
from bench.deadline import BenchTimeout, Deadline
from bench.stack import Stack

#: The live phases offer this share of the workflow's capacity (1 process, as just measured).
LIVE_LOAD = 0.5
TIMEOUT_PER_DATABASE_S = 900
#: A week: the hard timeout is also an alarm signal (seconds as a C unsigned int).
MAX_TIMEOUT_S = 7 * 24 * 3600


#: What --quick sets, where the command line did not give a value itself.
QUICK = {"accounts": 200, "concurrency": 2, "threads": 2, "floor_chains": 40, "stored": [200, 1000], "list_requests": 5}
#: The defaults of a full run (--accounts: with 200 a phase the accept phase lasted under half a
#: second, the first requests of each process (their SQL generated, their connections opened)
#: were a tenth of it, and the figures moved by half from run to run).
FULL = {
    "accounts": 1000,
    "concurrency": 4,
    "threads": 4,
    "floor_chains": 1000,
    "stored": [1000, 100_000],
    "list_requests": 40,
}


def parse_args(argv):
    """The command line; every count must be above zero (a zero would measure nothing, or wait
    for ever for a gateway with no worker), refused with the option's name and what was given."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    whole = arguments.positive(int, "the value")
    parser.add_argument(
        "--accounts", type=whole, default=None, help="accounts per phase (default 1000; 200 with --quick)"
    )
    parser.add_argument(
        "--concurrency", type=whole, default=None, help="client threads posting (default 4; 2 with --quick)"
    )
    parser.add_argument("--gateway-workers", type=whole, default=2, help="gunicorn --workers (default %(default)s)")
    parser.add_argument(
        "--threads", type=whole, default=None, help="dramatiq --threads per process (default 4; 2 with --quick)"
    )
    parser.add_argument(
        "--live-rate",
        type=arguments.positive(float, "the value"),
        default=None,
        help="accounts/s offered in the live phases (default: half the 1-process drain rate)",
    )
    parser.add_argument(
        "--timeout",
        type=arguments.positive(float, "the value", most=MAX_TIMEOUT_S),
        default=None,
        help=f"hard limit of the whole run in seconds (default {TIMEOUT_PER_DATABASE_S} per database)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke configuration, SQLite only: "
        + ", ".join(f"--{name.replace('_', '-')} {_shown(value)}" for name, value in QUICK.items())
        + " unless given",
    )
    parser.add_argument(
        "--floor-chains",
        type=whole,
        default=None,
        help="chains per floor measurement (default 1000, the size of kamflow's default batch; 40 with --quick)",
    )
    parser.add_argument(
        "--stored",
        type=arguments.stored_sizes,
        default=None,
        help="accounts stored when timing the lists, comma-separated (default 1000,100000; 200,1000 with --quick)",
    )
    parser.add_argument(
        "--list-requests",
        type=whole,
        default=None,
        help="timed requests per list view and size (default 40; 5 with --quick)",
    )
    parser.add_argument(
        "--only",
        choices=["lists", "accept"],
        default=None,
        help="run one part alone: 'lists' stores the accounts and times the lists, with no workflow phase; "
        "'accept' times the POSTs beside the bare endpoint (accept_ratio), with no worker",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("var/bench/latest.json"),
        help="where to write the figures (default %(default)s)",
    )
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


#: (worker processes, customers get access) of each round: accept a backlog, drain it, then live.
ROUNDS = ((1, True), (2, True), (2, False))


def bench_database(url: str, directory: Path, args, deadline: Deadline, result: dict) -> None:
    """Fill `result` phase by phase, so a timeout still leaves the figures measured so far.

    Each floor is measured right after the kamflow phase it is compared with (the bare endpoint
    after the first accept, each chain after the drain with as many processes), so that both
    see the same load from whatever else runs on the machine."""
    result.update(phases=[], floors=[], memory={}, ratios={}, live_rate_per_s=args.live_rate)
    with Stack(url, directory, deadline, args.gateway_workers, args.threads) as stack:
        if args.only == "lists":  # the stack (gateway, no worker) and the lists alone: minutes, not a quarter hour
            measure_lists(stack, args, deadline, result)
            result["memory"]["gateway"] = stack.gateway.peak_memory()
            return
        if args.only == "accept":  # the first accept and its floor, as the full run measures them: a minute
            figures, _ = phases.accept(stack, args.accounts, args.concurrency, True, deadline)
            result["phases"].append(figures)
            result["floors"].append(floors.bare_endpoint(stack, args.accounts, args.concurrency, True, deadline))
            result["memory"]["gateway"] = stack.gateway.peak_memory()
            return
        for processes, access in ROUNDS:
            figures, backlog = phases.accept(stack, args.accounts, args.concurrency, access, deadline)
            result["phases"].append(figures)
            if not result["floors"]:
                result["floors"].append(floors.bare_endpoint(stack, args.accounts, args.concurrency, True, deadline))
            with stack.worker_pool(processes) as pool:
                drained = phases.drain(backlog, processes, access, pool, deadline)
                result["phases"].append(drained)
                if result["live_rate_per_s"] is None:  # half the capacity of the first round
                    result["live_rate_per_s"] = round(max((drained["flow_per_s"] or 2) * LIVE_LOAD, 1.0), 1)
                result["phases"].append(
                    phases.live(
                        stack,
                        args.accounts,
                        args.concurrency,
                        processes,
                        access,
                        result["live_rate_per_s"],
                        pool,
                        deadline,
                    )
                )
            result["memory"][f"workers_{processes}" + ("" if access else "_no_access")] = pool.peak
            if access:  # the chains are compared with the drain with access
                result["floors"].append(floors.noop_chain(stack, args.floor_chains, processes, deadline))
                result["floors"].append(floors.durable_chain(stack, args.floor_chains, processes, deadline))
        expected = sum(f.get("active", 0) for f in result["phases"] if f["access"] and f["phase"] != "accept")
        result["emails"] = {"expected": expected, "received": len(stack.mail.wait_for(expected, timeout=5))}
        result["ratios"] = report.ratios(result["phases"])
        measure_lists(stack, args, deadline, result)
        result["memory"]["gateway"] = stack.gateway.peak_memory()


def measure_lists(stack: Stack, args, deadline: Deadline, result: dict) -> None:
    result["lists"] = []
    page_client = lists.login(stack.base_url, organisation.KAM_EMAIL, stack.kam_password)
    for stored in sorted(args.stored):
        started = time.perf_counter()
        added = lists.store_up_to(stored)
        store_s = round(time.perf_counter() - started, 1)
        figures = lists.measure(stack.base_url, stack.token, page_client, stored, args.list_requests, deadline)
        result["lists"].append({**figures, "stored_added": added, "store_s": store_s})


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _backstop(signum, frame):
    raise BenchTimeout("hard timeout: the run did not stop by itself in time")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    targets = [("sqlite", None)]
    if os.environ.get("BENCH_POSTGRES_URL") and not args.quick:
        databases.require_server(os.environ["BENCH_POSTGRES_URL"])
        targets.append(("postgres", os.environ["BENCH_POSTGRES_URL"]))
    if args.timeout is None:
        args.timeout = TIMEOUT_PER_DATABASE_S * len(targets)
    deadline = Deadline(args.timeout)
    out = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "accounts": args.accounts,
            "concurrency": args.concurrency,
            "gateway_workers": args.gateway_workers,
            "worker_threads": args.threads,
            "quick": args.quick,
            "timeout_s": args.timeout,
            "floor_chains": args.floor_chains,
            "stored": args.stored,
            "list_requests": args.list_requests,
            "only": args.only,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "databases": {},
        "complete": False,
        "error": None,
    }
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGALRM, _backstop)
        signal.alarm(int(args.timeout) + 60)  # if a wait somewhere ignored the deadline
    code = 1
    try:
        with tempfile.TemporaryDirectory(prefix="kamflow-bench-") as tmp:
            for label, server_url in targets:
                directory = Path(tmp) / label
                directory.mkdir()
                result = out["databases"].setdefault(label, {})
                opener = databases.sqlite(directory) if server_url is None else databases.postgres(server_url)
                with opener as url:
                    print(f"bench: {label} ...", flush=True)
                    bench_database(url, directory, args, deadline, result)
        out["complete"] = True
    except BenchTimeout as error:
        out["error"], code = str(error), 2
    except KeyboardInterrupt:
        out["error"], code = "interrupted", 130
    except Exception as error:  # a child died, a port was taken...: report what was measured
        out["error"] = f"{type(error).__name__}: {error}"
    finally:
        if in_main_thread:
            signal.alarm(0)
    out["all_active"] = report.all_active(out)
    out.update(report.headline(out))
    out["duration_s"] = round(time.monotonic() - started, 1)
    if out["complete"] and out["all_active"]:
        code = 0
    print(report.render(out), flush=True)
    report.write_json(out, args.json)
    print(f"figures written to {args.json}")
    return code


if __name__ == "__main__":
    sys.exit(main())
