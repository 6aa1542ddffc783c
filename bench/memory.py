"""Peak resident memory of a process tree, read from /proc (VmHWM), without psutil.

VmHWM is each process's own high-water mark, so reading it once before a process ends gives
its peak over its whole life. Forked children share pages with their parent that each one
counts, so the tree's total is an upper bound; the largest single process is exact.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def _parent_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def tree(root: int) -> list[int]:
    """`root` and every process descending from it that is alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def peak_rss_kib(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def tree_peak(root: int) -> dict:
    """{processes, largest_mib, total_mib} for the live tree under `root`."""
    peaks = [kib for kib in (peak_rss_kib(pid) for pid in tree(root)) if kib]
    return {
        "processes": len(peaks),
        "largest_mib": round(max(peaks) / 1024, 1) if peaks else None,
        "total_mib": round(sum(peaks) / 1024, 1) if peaks else None,
    }
