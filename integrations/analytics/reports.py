"""The analytics as the API, the CLI and the console show them, computed from the database.

Every report reads the tickets of its period (:class:`AnalyticsStore`) and the clusters
the keeper recorded (``ticket_clusters``; a ticket not assigned yet counts as a cluster of
its own), so any process can answer — the CLI without a server running. The rows are plain
dicts with the field names of the HTTP API (``docs/analytics.md``), so the API, the CLI's
tables and CSV, and the console print the same figures.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from integrations.analytics.cache import FactsCache
from integrations.analytics.clustering import ClusterView
from integrations.analytics.facts import TicketFact
from integrations.analytics.hotspots import SurgeAlert, hotspots, surge_alerts
from integrations.analytics.keeper import ClusterKeeper
from integrations.analytics.labels import category_label
from integrations.analytics.monthly import MonthlyRow, month_bounds, monthly_ranking
from integrations.analytics.rates import QuadrantChart, RateRow, quadrants, three_rates
from integrations.analytics.store import AnalyticsStore
from integrations.tickets.returns import Returns
from policies.clusters import DEFAULT_HOTSPOT_RULE, DEFAULT_SURGE_RULE

__all__ = [
    "GROUPS",
    "HOTSPOT_COLUMNS",
    "MONTHLY_COLUMNS",
    "RATE_COLUMNS",
    "AnalyticsReports",
    "Period",
    "PeriodError",
    "format_cell",
    "group_label",
    "monthly_dict",
    "parse_period",
    "rate_dict",
    "surge_dict",
    "to_csv_text",
]

Group = Literal["department", "street", "community", "category"]
GROUPS: tuple[Group, ...] = ("department", "street", "community", "category")
_GROUP_LABELS = {
    "department": "责任部门",
    "street": "街道",
    "community": "社区",
    "category": "类别",
}

#: (field, Chinese header) of each report's table, in order.
HOTSPOT_COLUMNS = (
    ("id", "问题编号"),
    ("label", "问题"),
    ("area", "区域"),
    ("residents", "居民数"),
    ("tickets", "工单数"),
    ("score", "热度"),
    ("why", "说明"),
)
RATE_COLUMNS = (
    ("group_label", "分组"),
    ("received", "受理"),
    ("responded_in_time", "按时签收"),
    ("response_judged", "应签收"),
    ("response_rate", "响应率"),
    ("resolved", "办结"),
    ("resolution_judged", "应办结"),
    ("resolution_rate", "解决率"),
    ("rated", "评价"),
    ("satisfied", "满意"),
    ("satisfaction_rate", "满意率"),
    ("score", "综合得分"),
    ("overdue_clocks", "超时次数"),
    ("returned", "退单"),
    ("returns_upheld", "退单成立"),
)
MONTHLY_COLUMNS = (
    ("rank", "排名"),
    ("area", "街道/社区"),
    ("label", "问题类别"),
    ("tickets", "诉求量"),
    ("residents", "居民数"),
    ("repeats", "重复诉求"),
    ("overdue", "超期"),
    ("reopened", "重新办理"),
    ("dissatisfied", "不满意"),
    ("score", "得分"),
)


@dataclass(frozen=True, slots=True)
class Period:
    """Tickets filed in [start, end)."""

    start: datetime
    end: datetime


def _moment(text: str, tz: tzinfo, *, end: bool) -> datetime:
    """``2026-07-01`` (a local day: its start, or with ``end`` the start of the next day)
    or an ISO 8601 time (local when it has no offset)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r}; write it as 2026-07-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def parse_period(
    since: str | None,
    until: str | None,
    *,
    tz: tzinfo,
    now: datetime,
    default_days: int = 30,
) -> Period:
    """The period of ``since`` … ``until`` (dates include their whole day); by default
    the last ``default_days`` days up to now. Raises ``ValueError`` saying what is wrong."""
    try:
        end = _moment(until, tz, end=True) if until else now
    except ValueError as exc:
        raise PeriodError("until", str(exc)) from None
    try:
        start = _moment(since, tz, end=False) if since else end - timedelta(days=default_days)
    except ValueError as exc:
        raise PeriodError("since", str(exc)) from None
    if start >= end:
        raise PeriodError("since", "since must be before until")
    return Period(start, end)


class PeriodError(ValueError):
    """A period that cannot be read; ``field`` is ``since`` or ``until``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def rate_dict(row: RateRow, group: str) -> dict[str, Any]:
    """One 三率 row with the API's field names."""
    points = row.satisfaction_points
    return {
        "group": row.group,
        "group_label": category_label(row.group) if group == "category" else row.group,
        "received": row.tickets,
        "responded_in_time": row.signed_in_time,
        "response_judged": row.sign_judged,
        "resolved": row.resolved,
        "resolution_judged": row.resolve_judged,
        "rated": row.rated,
        "satisfied": int(points) if float(points).is_integer() else round(points, 2),
        "overdue": row.overdue,
        "overdue_clocks": row.overdue_clocks,
        "response_rate": _round(row.response_rate),
        "resolution_rate": _round(row.resolution_rate),
        "satisfaction_rate": _round(row.satisfaction_rate),
        "score": _round(row.score, 1),
        "thin": row.thin,
    }


def monthly_dict(row: MonthlyRow) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "area": row.area,
        "category": row.category,
        "label": row.label,
        "tickets": row.tickets,
        "residents": row.residents,
        "repeats": row.repeats,
        "overdue": row.overdue,
        "reopened": row.reopened,
        "dissatisfied": row.dissatisfied,
        "score": row.score,
    }


def surge_dict(alert: SurgeAlert) -> dict[str, Any]:
    return {
        "key": alert.key,
        "kind": "surge",
        "area": alert.area,
        "level": alert.level,
        "category": alert.category,
        "category_label": category_label(alert.category),
        "count": alert.count,
        "residents": alert.residents,
        "baseline": round(alert.baseline, 2),
        "ratio": round(alert.ratio, 2),
        "p_value": alert.p_value,
        "clusters": [{"id": c, "tickets": n} for c, n in alert.clusters],
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "why": alert.why,
    }


def to_csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """The rows as CSV with Chinese headers (rates as percentages with one decimal)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header for _, header in columns])
    for row in rows:
        writer.writerow([format_cell(name, row.get(name)) for name, _ in columns])
    return out.getvalue()


def format_cell(name: str, value: Any) -> str:
    """A value as a table shows it: rates as ``87.5%``, unknown as ``–``."""
    if value is None:
        return "–"
    if name.endswith("_rate"):
        return f"{100 * float(value):.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


class AnalyticsReports:
    """Hot spots, 三率, 每月一题, quadrants and surges over the ticket database.

    With ``cache`` loaded (the keeper loads it at start) the facts come from memory, kept
    current (:class:`FactsCache`); with ``keeper`` ready, the clusters are its engine's
    (the writer's are exactly what it stores). Otherwise both are read from the database.
    """

    def __init__(
        self,
        store: AnalyticsStore,
        *,
        cache: FactsCache | None = None,
        keeper: ClusterKeeper | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.keeper = keeper

    async def _facts(self, since: datetime | None, until: datetime | None) -> list[TicketFact]:
        if self.cache is not None and self.cache.loaded:
            return await self.cache.between(since, until)
        return await self.store.facts(since=since, until=until)

    @property
    def tz(self) -> tzinfo:
        return self.store.core.tz

    def now(self) -> datetime:
        return self.store.now()

    async def _clusters(
        self, facts: Sequence[TicketFact]
    ) -> tuple[list[ClusterView], dict[str, str]]:
        """The clusters of ``facts`` as recorded (members outside ``facts`` left out)."""
        keeper = self.keeper
        if keeper is not None and keeper.ready:
            cluster_of = {f.id: keeper.cluster_of(f.id) or f.id for f in facts}
        else:
            assigned = await self.store.assignments(f.id for f in facts)
            cluster_of = {f.id: assigned.get(f.id, f.id) for f in facts}
        members: dict[str, list[TicketFact]] = {}
        for fact in facts:
            members.setdefault(cluster_of[fact.id], []).append(fact)
        summaries = await self.store.summaries(
            [c for c, m in members.items() if len(m) > 1 or c != m[0].id]
        )
        views = []
        for cluster_id, group in members.items():
            categories = Counter(f.category for f in group)
            category = min(categories.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            summary = summaries.get(cluster_id)
            place = summary.place if summary and summary.place else group[0].location
            views.append(
                ClusterView(
                    id=cluster_id,
                    ticket_ids=tuple(f.id for f in group),
                    category=category,
                    categories=dict(categories),
                    place=place,
                    first_at=min(f.created_at for f in group),
                    last_at=max(f.created_at for f in group),
                    residents=len({f.openid for f in group if f.openid}),
                )
            )
        return views, cluster_of

    # -- hot spots -------------------------------------------------------------------------

    async def hotspots(
        self, days: int = 30, *, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Clusters reported by at least three distinct residents within the last ``days``
        days whose score reaches the threshold, hottest first."""
        now = now or self.now()
        facts = await self._facts(now - timedelta(days=days), now)
        views, cluster_of = await self._clusters(facts)
        followers: dict[str, list[tuple[str, datetime]]] = {}
        for follower in await self.store.followers(f.id for f in facts):
            cluster_id = cluster_of.get(follower.ticket_id, follower.ticket_id)
            followers.setdefault(cluster_id, []).append((follower.openid, follower.created_at))
        by_id = {f.id: f for f in facts}
        found = hotspots(views, by_id, now, DEFAULT_HOTSPOT_RULE, followers=followers)
        members = {v.id: v.ticket_ids for v in views}
        return [
            {
                "id": h.cluster_id,
                "label": f"{h.place}“{category_label(h.category)}”",
                "category": h.category,
                "category_label": category_label(h.category),
                "area": h.community or h.street,
                "street": h.street,
                "community": h.community,
                "place": h.place,
                "ticket_ids": list(members[h.cluster_id]),
                "tickets": h.tickets,
                "residents": h.residents,
                "reopened": h.reopened,
                "unsatisfied": h.unsatisfied,
                "score": round(h.score, 2),
                "first_at": h.first_at.astimezone(self.tz).isoformat(),
                "last_at": h.last_at.astimezone(self.tz).isoformat(),
                "why": h.why,
            }
            for h in found
        ]

    # -- 三率 ------------------------------------------------------------------------------

    async def rate_rows(
        self, group: Group, period: Period, *, now: datetime | None = None
    ) -> list[RateRow]:
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; one of {', '.join(GROUPS)}")
        now = now or self.now()
        facts = await self._facts(period.start, period.end)
        return three_rates(facts, by=group, start=period.start, end=period.end, as_of=now)

    async def rates(
        self, group: Group, period: Period, *, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """三率 of the tickets filed in the period, one row per group, best score first; per
        department also its returns (退单) in the period and how many stood (re-routed)."""
        rows = [rate_dict(r, group) for r in await self.rate_rows(group, period, now=now)]
        if group == "department":
            bounces = {
                b.department: b
                for b in await Returns(self.store.core).bounce_counts(
                    since=period.start, until=period.end
                )
            }
            for row in rows:
                bounce = bounces.get(row["group"])
                row["returned"] = bounce.returned if bounce else 0
                row["returns_upheld"] = bounce.upheld if bounce else 0
        return rows

    async def quadrants(
        self,
        period: Period,
        *,
        x: Literal["volume", "difficulty"] = "volume",
        now: datetime | None = None,
    ) -> QuadrantChart:
        """Departments by workload against satisfaction (the four quadrants)."""
        now = now or self.now()
        facts = await self._facts(period.start, period.end)
        return quadrants(facts, by="department", x=x, start=period.start, end=period.end, as_of=now)

    # -- 每月一题 ---------------------------------------------------------------------------

    async def monthly_rows(
        self, month: str, *, level: str = "street", now: datetime | None = None
    ) -> list[MonthlyRow]:
        start, end = month_bounds(month, self.tz)
        # Repeats need the clusters' earlier tickets: two cluster windows before the month.
        facts = await self._facts(start - timedelta(days=60), end)
        _views, cluster_of = await self._clusters(facts)
        as_of = min(end, now or self.now())
        return monthly_ranking(
            facts, month, level=level, cluster_of=cluster_of, as_of=as_of, tz=self.tz
        )

    async def monthly(
        self, month: str, *, level: str = "street", now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The ranked problem classes of ``month`` (``YYYY-MM``)."""
        return [monthly_dict(r) for r in await self.monthly_rows(month, level=level, now=now)]

    # -- surges ------------------------------------------------------------------------------

    async def surges(
        self, *, now: datetime | None = None, levels: Iterable[str] = ("street", "community")
    ) -> list[SurgeAlert]:
        """Surge alerts at ``now`` for each area level (the last nine weeks of tickets)."""
        now = now or self.now()
        rule = DEFAULT_SURGE_RULE
        since = now - rule.window * (rule.baseline_windows + 1)
        facts = await self._facts(since, now)
        if not facts:
            return []
        first = await self.store.first_ticket_at()
        _views, cluster_of = await self._clusters(facts)
        alerts: list[SurgeAlert] = []
        for level in levels:
            alerts.extend(
                surge_alerts(
                    facts, now, level=level, cluster_of=cluster_of, history_start=first
                )
            )
        return alerts


def group_label(group: str) -> str:
    return _GROUP_LABELS.get(group, group)

