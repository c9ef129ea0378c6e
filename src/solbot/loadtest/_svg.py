"""Line charts as inline SVG (pure): the report needs no JavaScript library and no network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "Series", "line_chart"]

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)

Series = tuple[str, Sequence[float | None]]

_W, _H = 760, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 34, 54


def _nice_step(span: float, ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.3g}"


def line_chart(
    title: str,
    x: Sequence[float],
    series: Sequence[Series],
    *,
    unit: str = "",
    chart_id: str = "",
    x_label: str = "seconds since start",
    markers: Sequence[tuple[float, str]] = (),
) -> str:
    """One chart: a polyline per series (None leaves a gap), axes, grid and a legend."""
    values = [v for _, ys in series for v in ys if v is not None and math.isfinite(v)]
    y_max = max(values, default=0.0)
    y_min = min(0.0, min(values, default=0.0))
    step = _nice_step(y_max - y_min)
    y_top = max(step, math.ceil(y_max / step) * step) if y_max > 0 else step
    x_min = min(x, default=0.0)
    x_max = max(x, default=1.0)
    if x_max <= x_min:
        x_max = x_min + 1
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM

    def px(value: float) -> float:
        return _LEFT + (value - x_min) / (x_max - x_min) * plot_w

    def py(value: float) -> float:
        return _TOP + plot_h - (value - y_min) / (y_top - y_min) * plot_h

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{escape(title)}" data-series="{len(series)}" data-points="{len(values)}">',
        f'<text x="{_LEFT}" y="20" class="title">{escape(title)}'
        f"{f' ({escape(unit)})' if unit else ''}</text>",
    ]
    tick = y_min
    while tick <= y_top + step / 2:
        y = py(tick)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="ytick">{_fmt(tick)}</text>'
        )
        tick += step
    x_step = _nice_step(x_max - x_min, 8)
    tick = math.ceil(x_min / x_step) * x_step
    while tick <= x_max + 1e-9:
        x_pos = px(tick)
        parts.append(
            f'<line x1="{x_pos:.1f}" x2="{x_pos:.1f}" y1="{_TOP + plot_h}" '
            f'y2="{_TOP + plot_h + 4}" class="axis"/>'
            f'<text x="{x_pos:.1f}" y="{_TOP + plot_h + 17}" class="xtick">{_fmt(tick)}</text>'
        )
        tick += x_step
    for at, label in markers:
        if x_min <= at <= x_max:
            x_pos = px(at)
            parts.append(
                f'<line x1="{x_pos:.1f}" x2="{x_pos:.1f}" y1="{_TOP}" y2="{_TOP + plot_h}" '
                f'class="marker"/><text x="{x_pos + 3:.1f}" y="{_TOP + 10}" '
                f'class="mlabel">{escape(label)}</text>'
            )
    parts.append(
        f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_TOP + plot_h}" class="axis"/>'
        f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_TOP + plot_h}" y2="{_TOP + plot_h}" '
        f'class="axis"/>'
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_H - 24}" class="xlabel">{escape(x_label)}</text>'
    )
    legend_x = _LEFT
    for index, (name, ys) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for xv, yv in zip(x, ys, strict=False):
            if yv is None or not math.isfinite(yv):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{px(xv):.1f},{py(yv):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            elif run:
                parts.append(
                    f'<polyline class="line" fill="none" stroke="{color}" stroke-width="1.8" '
                    f'points="{" ".join(run)}"/>'
                )
        parts.append(
            f'<rect x="{legend_x}" y="{_H - 12}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{_H - 3}" class="legend">{escape(name)}</text>'
        )
        legend_x += 22 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)
