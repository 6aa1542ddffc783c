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

DATABASES = ("sqlite", "postgres")

#: The figures kamflow is judged by, each with the issue's target (shown, never enforced):
#: (key, title, target text). Every key is always in latest.json, null when not measured.
HEADLINE = [
    ("accept_ratio", "POST accept/s over the bare JSON endpoint's", ">= 0.25"),
    *[
        (f"chain_ratio_{db}_{n}p", f"drain active/s over bare no-op chains/s, {db}, {n} process{'es' * (n > 1)}", "")
        for db in DATABASES
        for n in (1, 2)
    ],
    *[
        (
            f"e2e_ratio_{db}_{n}p",
            f"drain active/s over durable floor chains/s, {db}, {n} process{'es' * (n > 1)}",
            ">= 0.5",
        )
        for db in DATABASES
        for n in (1, 2)
    ],
    ("list_p95_ms_100k", "API list p95 (ms), most accounts stored, worst view", "< 50"),
    ("customers_page_p95_ms_100k", "Customers page p95 (ms), most accounts stored, worst view", "< 50"),
    ("live_p95_ms", "time to active p95 (ms), live at half capacity, 1 process", "< 1000"),
    ("worker_rss_mb", "peak RSS of the largest worker process (MiB)", "< 100"),
    ("gateway_rss_mb", "peak RSS of the largest gateway process (MiB)", ""),
]


def _floor(result: dict, floor: str, workers: int | None = None) -> dict:
    for figures in result.get("floors", []):
        if figures["floor"] == floor and (workers is None or figures.get("workers") == workers):
            return figures
    return {}


def _worst(values, pick=max):
    values = [v for v in values if v is not None]
    return pick(values) if values else None


def headline(report: dict) -> dict:
    """The headline figures of the whole run, from every database measured: a ratio is the worst
    (lowest) of the databases', a time or a size the worst (highest)."""
    out = {key: None for key, _, _ in HEADLINE}
    accept, lists, live, workers, gateway = [], [], [], [], []
    for label, result in report["databases"].items():
        phases = result.get("phases", [])
        accept.append(
            stats.ratio(find(phases, "accept", 0).get("accept_per_s"), _floor(result, "endpoint").get("accept_per_s"))
        )
        for n in (1, 2):
            drained = find(phases, "drain", n).get("flow_per_s")
            out[f"chain_ratio_{label}_{n}p"] = stats.ratio(drained, _floor(result, "noop_chain", n).get("chains_per_s"))
            out[f"e2e_ratio_{label}_{n}p"] = stats.ratio(
                drained, _floor(result, "durable_chain", n).get("chains_per_s")
            )
        if result.get("lists"):
            lists.append(max(result["lists"], key=lambda figures: figures["stored"]))
        live.append(find(phases, "live", 1).get("e2e_p95_ms"))
        memory = result.get("memory", {})
        workers += [peak["largest_mib"] for key, peak in memory.items() if key.startswith("workers")]
        gateway.append(memory.get("gateway", {}).get("largest_mib"))
    out["accept_ratio"] = _worst(accept, min)
    out["list_p95_ms_100k"] = _worst([figures["list_p95_ms"] for figures in lists])
    out["customers_page_p95_ms_100k"] = _worst([figures["page_p95_ms"] for figures in lists])
    out["live_p95_ms"] = _worst(live)
    out["worker_rss_mb"] = _worst(workers)
    out["gateway_rss_mb"] = _worst(gateway)
    return out


LABEL = 64  # width of the ratio and memory labels

MEMORY_TITLES = {
    "gateway": "gateway (gunicorn master + workers)",
    "workers_1": "workers, --processes 1",
    "workers_2": "workers, --processes 2",
    "workers_2_no_access": "workers, --processes 2, no access",
}


def _cell(figures: dict, key: str, fmt: str) -> str:
    value = figures.get(key)
    return "-" if value is None else fmt.format(value)


def _title(figures: dict) -> str:
    title = PHASE_TITLES[figures["phase"]].format(
        w=figures["workers"], s="" if figures["workers"] == 1 else "es", rate=figures.get("offered_per_s") or 0
    )
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
            lines.append(
                _title(figures).ljust(width) + "".join(_cell(figures, key, fmt).rjust(14) for _, key, fmt in COLUMNS)
            )
            if figures.get("refused"):
                lines.append(f"    {figures['refused']} POST(s) refused, first: {figures['first_refusal']}")
            if figures.get("rejected") or figures.get("failed"):
                lines.append(
                    f"    not active: {figures.get('rejected', 0)} rejected, {figures.get('failed', 0)} failed"
                )
        lines.append("")
        for key, value in result.get("ratios", {}).items():
            lines.append(f"  {RATIO_TITLES[key]:<{LABEL}}" + ("-" if value is None else f"x{value:.2f}"))
        lines.append("")
        lines.append(f"  {'peak RSS (VmHWM)':<{LABEL}}{'processes':>10}{'largest':>12}{'sum':>12}")
        for key, peak in result.get("memory", {}).items():
            lines.append(
                f"  {MEMORY_TITLES.get(key, key):<{LABEL}}{peak['processes']:>10}"
                f"{_mib(peak['largest_mib']):>12}{_mib(peak['total_mib']):>12}"
            )
        emails = result.get("emails")
        if emails:
            lines.append(f"  credentials emails received: {emails['received']} of {emails['expected']} expected")
        lines += _render_floors(result) + _render_lists(result)
    lines += [
        "",
        f"kamflow against its floors, same run (worst of the databases measured){'':<6}{'value':>10}{'target':>10}",
    ]
    for key, title, target in HEADLINE:
        value = report.get(key)
        shown = "-" if value is None else (f"{value:.2f}" if "ratio" in key else f"{value:.0f}")
        lines.append(f"  {key:<28}{title:<64}{shown:>10}{target:>10}")
    lines.append("")
    lines.append(
        f"all accounts active: {'yes' if report.get('all_active') else 'NO'}; "
        f"took {report['duration_s']:.0f} s"
        + ("" if report.get("complete") else f"; INCOMPLETE: {report.get('error')}")
    )
    lines.append(
        "(figures, not verdicts: compare runs on the same machine; the sum of RSS counts shared pages once per process)"
    )
    return "\n".join(lines)


FLOOR_TITLES = {
    "endpoint": "bare JSON endpoint, gunicorn --workers {gateway_workers}",
    "noop_chain": "bare 4-actor no-op chain, {workers} process(es)",
    "durable_chain": "durable 4-actor floor chain, {workers} process(es)",
}


def _render_floors(result: dict) -> list[str]:
    lines = []
    for figures in result.get("floors", []):
        title = FLOOR_TITLES[figures["floor"]].format(**figures)
        if figures["floor"] == "endpoint":
            shown = f"{figures['accept_per_s'] or 0:.1f} accepted/s, POST p95 {figures['post_p95_ms'] or 0:.0f} ms"
        else:
            shown = f"{figures['chains_per_s'] or 0:.1f} chains/s ({figures['chains']} chains)"
        lines.append(f"  {title:<{LABEL}}{shown}")
    return [""] + lines if lines else []


def _render_lists(result: dict) -> list[str]:
    rows = result.get("lists", [])
    if not rows:
        return []
    lines = [
        "",
        f"  {'p95 with N accounts stored (ms)':<{LABEL}}{'API list':>10}{'filtered':>10}{'page':>10}{'search':>10}",
    ]
    for figures in rows:
        cells = [
            figures[key]
            for key in ("list_default_p95_ms", "list_filtered_p95_ms", "page_default_p95_ms", "page_search_p95_ms")
        ]
        lines.append(f"  {figures['stored']:<{LABEL},}" + "".join(f"{cell:>10.0f}" for cell in cells))
    return lines


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
