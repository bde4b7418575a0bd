"""每月一题: the month's problem classes (category × area) ranked as candidates for the
city's "problem of the month", with Markdown, CSV and a PNG chart.

Each class is counted over the tickets filed in the month (local time): tickets, distinct
residents, repeats (tickets that joined a cluster opened earlier: the same problem asked
again), overdue, reopened and dissatisfied; the score is
:func:`policies.clusters.monthly_score` (each figure relative to the month's largest,
weighted 30/20/15/10/10/15).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from integrations.analytics.facts import TicketFact
from integrations.analytics.hotspots import area_of
from integrations.analytics.labels import category_label
from policies.clusters import (
    DEFAULT_MONTHLY_RULE,
    MONTHLY_METRICS,
    MonthlyRule,
    is_overdue,
    monthly_score,
)

__all__ = [
    "MonthlyRow",
    "chart_png",
    "month_bounds",
    "monthly_ranking",
    "to_csv",
    "to_markdown",
]

log = logging.getLogger(__name__)

CST = timezone(timedelta(hours=8))
_HEADERS = (
    "排名",
    "街道/社区",
    "问题类别",
    "诉求量",
    "居民数",
    "重复诉求",
    "超期",
    "重新办理",
    "不满意",
    "得分",
)
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


@dataclass(frozen=True, slots=True)
class MonthlyRow:
    """One ranked problem class of the month."""

    rank: int
    area: str
    category: str
    label: str
    tickets: int
    residents: int
    repeats: int
    overdue: int
    reopened: int
    dissatisfied: int
    score: float

    def values(self) -> dict[str, int]:
        return {m: getattr(self, m) for m in MONTHLY_METRICS}


def month_bounds(month: str | date, tz: tzinfo = CST) -> tuple[datetime, datetime]:
    """[start, end) of a month (``"2026-07"`` or any date in it) in local time."""
    if isinstance(month, str):
        try:
            year, mon = (int(p) for p in month.split("-")[:2])
            day = date(year, mon, 1)
        except ValueError:
            raise ValueError(f"not a month: {month!r}; write it as 2026-07") from None
    else:
        day = month.replace(day=1)
    start = datetime(day.year, day.month, 1, tzinfo=tz)
    nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return start, datetime(nxt.year, nxt.month, 1, tzinfo=tz)


_REPEAT = timedelta(days=30)


@dataclass(slots=True)
class _Counts:
    tickets: int = 0
    residents: set[str] = field(default_factory=set)
    repeats: int = 0
    overdue: int = 0
    reopened: int = 0
    dissatisfied: int = 0

    def values(self) -> dict[str, int]:
        return {
            "tickets": self.tickets,
            "residents": len(self.residents),
            "repeats": self.repeats,
            "overdue": self.overdue,
            "reopened": self.reopened,
            "dissatisfied": self.dissatisfied,
        }


def monthly_ranking(
    facts: Iterable[TicketFact],
    month: str | date,
    *,
    level: str = "street",
    cluster_of: Mapping[str, str] | Callable[[str], str | None] | None = None,
    as_of: datetime | None = None,
    rule: MonthlyRule = DEFAULT_MONTHLY_RULE,
    tz: tzinfo = CST,
) -> list[MonthlyRow]:
    """The month's classes (category × area at ``level``) with at least
    ``rule.min_tickets`` tickets, best candidate first.

    Repeats: with ``cluster_of`` (ticket id → cluster id), a ticket that is not the first
    of its cluster; without, a ticket from a resident who already reported the same
    category in the same area in the 30 days before. Overdue is judged at ``as_of``
    (default: the end of the month).
    """
    start, end = month_bounds(month, tz)
    judged_at = as_of or end
    lookup: Callable[[str], str | None] | None
    if cluster_of is None:
        lookup = None
    elif callable(cluster_of):
        lookup = cluster_of
    else:
        lookup = cluster_of.get

    every = sorted(facts, key=lambda f: (f.created_at, f.id))
    first_of_cluster: set[str] = set()
    last_report: dict[tuple[str, str, str], datetime] = {}
    groups: dict[tuple[str, str], _Counts] = defaultdict(_Counts)
    for fact in every:
        if fact.created_at >= end:
            break
        area = area_of(fact, level) or ""
        if lookup is not None:
            cluster = lookup(fact.id) or fact.id
            repeat = cluster in first_of_cluster
            first_of_cluster.add(cluster)
        else:
            key = (fact.openid or "", fact.category, area)
            seen = last_report.get(key)
            repeat = bool(fact.openid) and seen is not None and fact.created_at - seen <= _REPEAT
            if fact.openid:
                last_report[key] = fact.created_at
        if fact.created_at < start or not area:
            continue
        g = groups[(area, fact.category)]
        g.tickets += 1
        if fact.openid:
            g.residents.add(fact.openid)
        g.repeats += repeat
        g.overdue += is_overdue(fact.status, fact.due_at, fact.resolved_at, judged_at)
        g.reopened += fact.reopened > 0
        g.dissatisfied += fact.rating == "unsatisfied"
    values = {k: g.values() for k, g in groups.items() if g.tickets >= rule.min_tickets}
    maxima = {m: max((v[m] for v in values.values()), default=0) for m in MONTHLY_METRICS}
    scored = sorted(
        (
            (monthly_score(v, maxima, rule), area, category, v)
            for (area, category), v in values.items()
        ),
        key=lambda s: (-s[0], s[1], s[2]),
    )
    return [
        MonthlyRow(
            rank=i,
            area=area,
            category=category,
            label=category_label(category),
            score=round(score, 1),
            **v,
        )
        for i, (score, area, category, v) in enumerate(scored, start=1)
    ]


def _cells(row: MonthlyRow) -> tuple[str, ...]:
    return (
        str(row.rank),
        row.area,
        row.label,
        str(row.tickets),
        str(row.residents),
        str(row.repeats),
        str(row.overdue),
        str(row.reopened),
        str(row.dissatisfied),
        f"{row.score:.1f}",
    )


def to_markdown(
    rows: Sequence[MonthlyRow], title: str = "每月一题候选", top: int | None = 10
) -> str:
    """A Markdown table of the ranking (the first ``top`` rows; None: all)."""
    shown = rows[:top] if top else rows
    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "|" + "|".join(["---:", "---", "---", *["---:"] * 7]) + "|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |" for r in shown]
    if not shown:
        lines.append("| – | 本月没有达到门槛的问题类别 | | | | | | | | |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[MonthlyRow]) -> str:
    """The whole ranking as CSV (UTF-8 text; headers in Chinese, category id included)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_HEADERS[:3], "类别编号", *_HEADERS[3:]])
    for row in rows:
        cells = _cells(row)
        writer.writerow([*cells[:3], row.category, *cells[3:]])
    return out.getvalue()


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in available), None)


def chart_png(rows: Sequence[MonthlyRow], path: str | Path, top: int = 10, title: str = "") -> Path:
    """A horizontal bar chart of the top classes' scores, written to ``path``.

    Labels are Chinese when a CJK font is installed; otherwise ASCII (``#3 report.drainage``,
    the rank matching the Markdown table), because matplotlib would draw missing glyphs
    as boxes.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    shown = list(rows[:top])
    font = _cjk_font()
    if font:
        labels = [f"{r.rank}. {r.area} · {r.label}" for r in shown]
        heading = title or "每月一题候选（得分）"
    else:
        labels = [f"#{r.rank} {r.category}" for r in shown]
        heading = title if title and title.isascii() else "Problem of the month: candidates (score)"
    path = Path(path)
    with plt.rc_context({"font.family": [font] if font else ["DejaVu Sans"]}):
        fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(shown), 1) + 1.2))
        try:
            ax.barh(range(len(shown)), [r.score for r in shown], color="#c0392b")
            ax.set_yticks(range(len(shown)))
            ax.set_yticklabels(labels, fontsize=9)
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel("score (0-100)" if not font else "得分（0–100）")
            ax.set_title(heading)
            for i, r in enumerate(shown):
                ax.text(r.score + 1, i, f"{r.score:.0f}", va="center", fontsize=8)
            fig.tight_layout()
            fig.savefig(path, dpi=120)
        finally:
            plt.close(fig)
    return path
