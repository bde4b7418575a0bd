"""三率 (response, resolution and satisfaction rates) per group and period, and the
four-quadrant placement of departments.

The definitions are :class:`policies.clusters.RatesRule`'s; this module counts. A group is
a department, street, community or category (or any function of a ticket); a period is the
tickets *filed* in [start, end), judged as of ``as_of`` (a ticket still within its
deadline is not judged on it yet).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from integrations.analytics.facts import TicketFact
from policies.clusters import (
    DEFAULT_RATES_RULE,
    Quadrant,
    RatesRule,
    composite_score,
    is_overdue,
    quadrant,
    resolution_outcome,
    response_outcome,
    satisfaction_value,
)

__all__ = [
    "GROUPINGS",
    "QuadrantChart",
    "QuadrantPoint",
    "RateRow",
    "category_difficulty",
    "quadrants",
    "three_rates",
]

#: Groupings by name; any ``Callable[[TicketFact], str | None]`` works as well.
GROUPINGS: dict[str, Callable[[TicketFact], str | None]] = {
    "department": lambda f: f.department,
    "street": lambda f: f.street,
    "community": lambda f: f.community,
    "category": lambda f: f.category,
    "all": lambda f: "全部",
}

Grouping = str | Callable[[TicketFact], str | None]


def _grouping(by: Grouping) -> Callable[[TicketFact], str | None]:
    if callable(by):
        return by
    try:
        return GROUPINGS[by]
    except KeyError:
        raise ValueError(f"unknown grouping {by!r}; one of {', '.join(GROUPINGS)}") from None


def _rate(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class RateRow:
    """The three rates of one group, with the counts behind them.

    ``*_rate`` is None when nothing could be judged; ``score`` is the weighted 0–100
    composite; ``thin`` marks a rate resting on fewer than ``RatesRule.min_judged``
    tickets.
    """

    group: str
    tickets: int
    signed_in_time: int
    sign_judged: int
    resolved: int
    resolve_judged: int
    satisfaction_points: float
    rated: int
    overdue: int  # finished after the deadline, or still open past it
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    score: float | None
    thin: bool
    #: how many times the group's clocks ran out (签收 or 办结, every dispatch counted)
    overdue_clocks: int = 0


@dataclass(slots=True)
class _Tally:
    tickets: int = 0
    signed_in_time: int = 0
    sign_judged: int = 0
    resolved: int = 0
    resolve_judged: int = 0
    satisfaction_points: float = 0.0
    rated: int = 0
    overdue: int = 0
    overdue_clocks: int = 0


def _overdue(fact: TicketFact, as_of: datetime) -> bool:
    return is_overdue(fact.status, fact.due_at, fact.resolved_at, as_of)


def _in_period(fact: TicketFact, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or fact.created_at >= start) and (end is None or fact.created_at < end)


def three_rates(
    facts: Iterable[TicketFact],
    *,
    by: Grouping = "department",
    start: datetime | None = None,
    end: datetime | None = None,
    as_of: datetime,
    rule: RatesRule = DEFAULT_RATES_RULE,
) -> list[RateRow]:
    """三率 of the tickets filed in [``start``, ``end``) per group, judged at ``as_of``;
    sorted by score (best first; unjudged groups last), then group name."""
    key = _grouping(by)
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for fact in facts:
        if not _in_period(fact, start, end) or fact.created_at > as_of:
            continue
        group = key(fact)
        if not group:
            continue
        t = tallies[group]
        t.tickets += 1
        signed = (
            response_outcome(fact.created_at, fact.signed_at, as_of, rule, fact.sign_due_at)
            if fact.timed
            else None
        )
        if signed is not None:
            t.sign_judged += 1
            t.signed_in_time += signed
        resolved = resolution_outcome(fact.status, fact.due_at, as_of, fact.resolved_at)
        if resolved is not None:
            t.resolve_judged += 1
            t.resolved += resolved
        # A rating follows the resolution: none yet if that came after as_of.
        rated_by_then = fact.resolved_at is None or fact.resolved_at <= as_of
        value = satisfaction_value(fact.rating, rule) if rated_by_then else None
        if value is not None and fact.status != "rejected":
            t.rated += 1
            t.satisfaction_points += value
        t.overdue += _overdue(fact, as_of)
        t.overdue_clocks += fact.overdue_clocks
    rows = []
    for group, t in tallies.items():
        response = _rate(t.signed_in_time, t.sign_judged)
        resolution = _rate(t.resolved, t.resolve_judged)
        satisfaction = _rate(t.satisfaction_points, t.rated)
        judged = [n for n in (t.sign_judged, t.resolve_judged, t.rated) if n]
        rows.append(
            RateRow(
                group=group,
                tickets=t.tickets,
                signed_in_time=t.signed_in_time,
                sign_judged=t.sign_judged,
                resolved=t.resolved,
                resolve_judged=t.resolve_judged,
                satisfaction_points=t.satisfaction_points,
                rated=t.rated,
                overdue=t.overdue,
                response_rate=response,
                resolution_rate=resolution,
                satisfaction_rate=satisfaction,
                score=composite_score(response, resolution, satisfaction, rule),
                thin=not judged or min(judged) < rule.min_judged,
                overdue_clocks=t.overdue_clocks,
            )
        )
    rows.sort(key=lambda r: (r.score is None, -(r.score or 0.0), r.group))
    return rows


def category_difficulty(facts: Iterable[TicketFact], as_of: datetime) -> dict[str, float]:
    """How hard each category is city-wide: the share of its tickets that ran overdue or
    were reopened. A department's difficulty is the mean of this over its tickets, so it
    reflects the mix of problems it gets, not how well it handles them."""
    total: dict[str, int] = defaultdict(int)
    hard: dict[str, int] = defaultdict(int)
    for fact in facts:
        if fact.created_at > as_of or fact.status == "rejected":
            continue
        total[fact.category] += 1
        hard[fact.category] += _overdue(fact, as_of) or fact.reopened > 0
    return {c: hard[c] / n for c, n in total.items() if n}


@dataclass(frozen=True, slots=True)
class QuadrantPoint:
    """One group placed on the chart."""

    group: str
    x: float
    y: float
    quadrant: Quadrant
    tickets: int


@dataclass(frozen=True, slots=True)
class QuadrantChart:
    """The four-quadrant placement: points, the splits (medians) and what the axes are.
    ``unplaced``: groups without a satisfaction rate (nothing rated yet)."""

    points: tuple[QuadrantPoint, ...]
    x_split: float
    y_split: float
    x_axis: str
    y_axis: str
    unplaced: tuple[str, ...]


def quadrants(
    facts: Sequence[TicketFact],
    *,
    by: Grouping = "department",
    x: Literal["volume", "difficulty"] = "volume",
    y: Literal["satisfaction", "score"] = "satisfaction",
    start: datetime | None = None,
    end: datetime | None = None,
    as_of: datetime,
    rule: RatesRule = DEFAULT_RATES_RULE,
) -> QuadrantChart:
    """Place each group by workload (``volume``: tickets; ``difficulty``: see
    :func:`category_difficulty`) against satisfaction (the satisfaction rate, or the 三率
    ``score``), split at the medians of the groups placed."""
    key = _grouping(by)
    period = [f for f in facts if _in_period(f, start, end) and f.created_at <= as_of]
    rows = three_rates(period, by=by, as_of=as_of, rule=rule)
    xs: dict[str, float] = {}
    if x == "volume":
        xs = {r.group: float(r.tickets) for r in rows}
    elif x == "difficulty":
        hardness = category_difficulty(facts, as_of)
        sums: dict[str, list[float]] = defaultdict(list)
        for fact in period:
            group = key(fact)
            if group:
                sums[group].append(hardness.get(fact.category, 0.0))
        xs = {g: statistics.fmean(v) for g, v in sums.items()}
    else:
        raise ValueError(f"unknown x axis {x!r}; volume or difficulty")
    if y not in ("satisfaction", "score"):
        raise ValueError(f"unknown y axis {y!r}; satisfaction or score")
    placed: list[tuple[str, float, float, int]] = []
    unplaced = []
    for row in rows:
        value = row.satisfaction_rate if y == "satisfaction" else row.score
        if value is None:
            unplaced.append(row.group)
        else:
            placed.append((row.group, xs.get(row.group, 0.0), value, row.tickets))
    if not placed:
        return QuadrantChart((), 0.0, 0.0, x, y, tuple(sorted(unplaced)))
    x_split = statistics.median(p[1] for p in placed)
    y_split = statistics.median(p[2] for p in placed)
    points = tuple(
        QuadrantPoint(g, px, py, quadrant(px, py, x_split, y_split), n)
        for g, px, py, n in sorted(placed)
    )
    return QuadrantChart(points, x_split, y_split, x, y, tuple(sorted(unplaced)))
