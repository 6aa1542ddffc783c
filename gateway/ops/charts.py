"""Line charts drawn on the server as SVG, for /ops: no JavaScript, no CDN, nothing inline to
execute (a Content-Security-Policy without inline script holds), and they refresh with the panel
they are part of. Colours come from classes styled in ops.css.

Each chart says what it shows in its <title> and, for a screen reader or a glance, the latest and
the highest value of each line in its <desc> and legend.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 10, 24  # room for the axes' labels

_ids = itertools.count(1)


def nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at or above `value` (1 when nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def line_chart(
    title: str,
    starts: Sequence[dt.datetime],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float], str],
    chart_id: str | None = None,
) -> Markup:
    """One chart: a line per series over the buckets starting at `starts` (UTC); a None value is
    a gap (nothing measured then), not a zero."""
    chart_id = chart_id or f"chart-{next(_ids)}"
    values = [v for _, line in series for v in line if v is not None]
    top = nice_ceiling(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(starts)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(_summary(series, fmt))}</desc>',
    ]
    for fraction in (0, 0.5, 1):  # grid lines and the y axis' labels
        level = top * fraction
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end">{escape(fmt(level))}</text>'
        )
    for i in sorted({0, n // 2, n - 1}) if n else ():  # the x axis: time, UTC
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        parts.append(
            f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
            f"{starts[i].strftime('%H:%M')}</text>"
        )
    for index, (name, line) in enumerate(series):
        for segment in _segments(line):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in segment)
            if len(segment) == 1:
                i, v = segment[0]
                parts.append(f'<circle class="series series-{index}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5"/>')
            else:
                parts.append(
                    f'<polyline class="series series-{index}" data-series="{escape(name)}" points="{points}"/>'
                )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch series-{index}"></span>{escape(name)}: {escape(_latest_and_peak(line, fmt))}</li>'
        for index, (name, line) in enumerate(series)
    )
    return Markup(
        f'<figure class="chart-figure">{"".join(parts)}<figcaption><strong>{escape(title)}</strong>'
        f'<ul class="legend">{legend}</ul></figcaption></figure>'
    )


def _segments(line: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    segments, current = [], []
    for i, v in enumerate(line):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((i, v))
    if current:
        segments.append(current)
    return segments


def _latest_and_peak(line: Sequence[float | None], fmt: Callable[[float], str]) -> str:
    measured = [v for v in line if v is not None]
    if not measured:
        return "nothing measured"
    return f"latest {fmt(measured[-1])}, peak {fmt(max(measured))}"


def _summary(series, fmt) -> str:
    return "; ".join(f"{name}: {_latest_and_peak(line, fmt)}" for name, line in series)
