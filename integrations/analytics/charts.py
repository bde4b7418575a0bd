"""Charts as PNG bytes for the console and the exports: the four quadrants of departments
and the 每月一题 ranking.

Drawn with matplotlib's object API on the Agg canvas (no display, no global pyplot state,
so two requests may draw at once). Chinese labels need a CJK font; without one the points
are numbered and the page shows the legend (matplotlib would draw missing glyphs as
boxes). :func:`cjk_font` says which case applies.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from integrations.analytics.monthly import MonthlyRow, _cjk_font, chart_png
from integrations.analytics.rates import QuadrantChart
from policies.clusters import Quadrant

__all__ = ["cjk_font", "monthly_png", "quadrant_png"]

_COLOURS = {
    Quadrant.LEADING: "#2e7d32",
    Quadrant.STEADY: "#1565c0",
    Quadrant.IMPROVE: "#ef6c00",
    Quadrant.FOCUS: "#c62828",
}
_ASCII_NAMES = {
    Quadrant.LEADING: "Leading (heavy load, satisfied)",
    Quadrant.STEADY: "Steady (light load, satisfied)",
    Quadrant.IMPROVE: "To improve (light load, not satisfied)",
    Quadrant.FOCUS: "Focus (heavy load, not satisfied)",
}
_X_LABELS = {"volume": ("诉求量（件）", "tickets"), "difficulty": ("难度", "difficulty")}
_Y_LABELS = {"satisfaction": ("满意率", "satisfaction rate"), "score": ("三率得分", "score")}
# pyplot (used by monthly.chart_png) keeps global state: one drawing at a time.
_PYPLOT = threading.Lock()


def cjk_font() -> str | None:
    """The installed font that draws Chinese, or None."""
    return _cjk_font()


def quadrant_png(chart: QuadrantChart, *, title: str = "") -> bytes:
    """The departments on the four quadrants; points numbered in ``chart.points`` order
    (1-based) when no CJK font is installed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font = cjk_font()
    figure = Figure(figsize=(7.5, 5.5), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    family: dict[str, Any] = {"fontfamily": font} if font else {}
    points = chart.points
    for quadrant, colour in _COLOURS.items():
        mine = [(i, p) for i, p in enumerate(points, start=1) if p.quadrant is quadrant]
        if not mine:
            continue
        ax.scatter(
            [p.x for _, p in mine],
            [p.y * (100 if chart.y_axis == "satisfaction" else 1) for _, p in mine],
            s=[40 + 6 * min(p.tickets, 60) for _, p in mine],
            color=colour,
            alpha=0.75,
            label=quadrant.label if font else _ASCII_NAMES[quadrant],
        )
        for index, point in mine:
            y = point.y * (100 if chart.y_axis == "satisfaction" else 1)
            ax.annotate(
                point.group if font else str(index),
                (point.x, y),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize=8,
                **family,
            )
    if points:
        y_split = chart.y_split * (100 if chart.y_axis == "satisfaction" else 1)
        ax.axvline(chart.x_split, color="#888", linestyle="--", linewidth=1)
        ax.axhline(y_split, color="#888", linestyle="--", linewidth=1)
        ax.legend(loc="best", fontsize=7, prop={"family": font} if font else None)
    else:
        ax.text(0.5, 0.5, "no rated tickets yet" if not font else "暂无评价数据",
                ha="center", va="center", transform=ax.transAxes, **family)
    x_label, x_ascii = _X_LABELS.get(chart.x_axis, (chart.x_axis, chart.x_axis))
    y_label, y_ascii = _Y_LABELS.get(chart.y_axis, (chart.y_axis, chart.y_axis))
    unit = " (%)" if chart.y_axis == "satisfaction" else ""
    ax.set_xlabel(x_label if font else x_ascii, **family)
    ax.set_ylabel((y_label if font else y_ascii) + unit, **family)
    heading = title if font and title else ("四象限" if font else "Departments: four quadrants")
    ax.set_title(heading, **family)
    ax.grid(alpha=0.2)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def monthly_png(rows: Sequence[MonthlyRow], *, title: str = "", top: int = 10) -> bytes:
    """:func:`integrations.analytics.monthly.chart_png` as bytes."""
    with _PYPLOT, tempfile.TemporaryDirectory() as folder:
        path = chart_png(rows, Path(folder) / "monthly.png", top=top, title=title)
        return path.read_bytes()
