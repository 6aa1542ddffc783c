"""The bench's report: ratios computed from the phases, a plain-text table, the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from bench import stats

PHASE_TITLES = {
    "accept": "accept only, no worker running",
    "drain": "drain that backlog, {w} worker process{s}",
    "live": "live at {rate:g}/s, {w} worker process{s}",
}

COLUMNS = [  # (heading, key, format)
    ("accounts", "accounts", "{:.0f}"),
    ("accept/s", "accept_per_s", "{:.1f}"),
    ("POST p50", "post_p50_ms", "{:.0f} ms"),
    ("POST p95", "post_p95_ms", "{:.0f} ms"),
    ("active", "active", "{:.0f}"),
    ("active/s", "flow_per_s", "{:.1f}"),
    ("to active p50", "e2e_p50_ms", "{:.0f} ms"),
    ("to active p95", "e2e_p95_ms", "{:.0f} ms"),
]


def find(phases: list[dict], phase: str, workers: int, access: bool = True) -> dict:
    for figures in phases:
        if (figures["phase"], figures["workers"], figures["access"]) == (phase, workers, access):
            return figures
    return {}


def ratios(phases: list[dict]) -> dict:
    def flow(phase, workers, access=True):
        return find(phases, phase, workers, access).get("flow_per_s")

    def to_active(workers, access=True):
        return find(phases, "live", workers, access).get("e2e_p50_ms")

    return {
        "workers_2_vs_1": stats.ratio(flow("drain", 2), flow("drain", 1)),
        "no_access_vs_access": stats.ratio(flow("drain", 2, False), flow("drain", 2)),
        "to_active_p50_1_vs_2": stats.ratio(to_active(1), to_active(2)),
        "to_active_p50_access_vs_no_access": stats.ratio(to_active(2), to_active(2, False)),
    }


RATIO_TITLES = {
    "workers_2_vs_1": "capacity (drain active/s), 2 vs 1 worker process",
    "no_access_vs_access": "capacity (drain active/s), no access vs access, 2 processes",
    "to_active_p50_1_vs_2": "to-active p50 (live), 1 vs 2 worker processes",
    "to_active_p50_access_vs_no_access": "to-active p50 (live, 2 processes), access vs no access",
}

LABEL = 64  # width of the ratio and memory labels

MEMORY_TITLES = {"gateway": "gateway (gunicorn master + workers)", "workers_1": "workers, --processes 1",
                 "workers_2": "workers, --processes 2", "workers_2_no_access": "workers, --processes 2, no access"}


def _cell(figures: dict, key: str, fmt: str) -> str:
    value = figures.get(key)
    return "-" if value is None else fmt.format(value)


def _title(figures: dict) -> str:
    title = PHASE_TITLES[figures["phase"]].format(
        w=figures["workers"], s="" if figures["workers"] == 1 else "es", rate=figures.get("offered_per_s") or 0)
    return title + ("" if figures["access"] else ", no access")


def render(report: dict) -> str:
    config, machine = report["config"], report["machine"]
    lines = [
        "",
        f"kamflow bench — {config['accounts']} accounts per phase, {config['concurrency']} client threads, "
        f"gunicorn --workers {config['gateway_workers']}, dramatiq --threads {config['worker_threads']}, "
        f"{machine['cpus']} CPUs, Python {machine['python']}",
    ]
    for label, result in report["databases"].items():
        phases = result.get("phases", [])
        lines += ["", f"[{label}]"]
        width = max([len(_title(f)) for f in phases] + [40]) + 2
        lines.append("phase".ljust(width) + "".join(h.rjust(14) for h, _, _ in COLUMNS))
        for figures in phases:
            lines.append(_title(figures).ljust(width)
                         + "".join(_cell(figures, key, fmt).rjust(14) for _, key, fmt in COLUMNS))
            if figures.get("refused"):
                lines.append(f"    {figures['refused']} POST(s) refused, first: {figures['first_refusal']}")
            if figures.get("rejected") or figures.get("failed"):
                lines.append(f"    not active: {figures.get('rejected', 0)} rejected, "
                             f"{figures.get('failed', 0)} failed")
        lines.append("")
        for key, value in result.get("ratios", {}).items():
            lines.append(f"  {RATIO_TITLES[key]:<{LABEL}}" + ("-" if value is None else f"x{value:.2f}"))
        lines.append("")
        lines.append(f"  {'peak RSS (VmHWM)':<{LABEL}}{'processes':>10}{'largest':>12}{'sum':>12}")
        for key, peak in result.get("memory", {}).items():
            lines.append(f"  {MEMORY_TITLES.get(key, key):<{LABEL}}{peak['processes']:>10}"
                         f"{_mib(peak['largest_mib']):>12}{_mib(peak['total_mib']):>12}")
        emails = result.get("emails")
        if emails:
            lines.append(f"  credentials emails received: {emails['received']} of {emails['expected']} expected")
    lines.append("")
    lines.append(f"all accounts active: {'yes' if report.get('all_active') else 'NO'}; "
                 f"took {report['duration_s']:.0f} s"
                 + ("" if report.get("complete") else f"; INCOMPLETE: {report.get('error')}"))
    lines.append("(figures, not verdicts: compare runs on the same machine; the sum of RSS counts shared pages "
                 "once per process)")
    return "\n".join(lines)


def _mib(value) -> str:
    return "-" if value is None else f"{value:.0f} MiB"


def all_active(report: dict) -> bool:
    """Every account posted in every phase reached `active`, and every run finished."""
    if not report.get("complete") or not report["databases"]:
        return False
    for result in report["databases"].values():
        for figures in result["phases"]:
            if figures.get("refused") or figures.get("rejected") or figures.get("failed"):
                return False
            if figures["phase"] != "accept" and figures.get("active") != figures["accounts"]:
                return False
    return True


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
