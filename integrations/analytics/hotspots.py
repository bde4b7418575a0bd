"""未诉先办: hot spots (clusters many residents keep reporting) and surges (one problem
class rising in one area against its own recent level).

* :func:`hotspots` scores clusters by distinct residents × recency, plus reopenings and
  不满意 ratings (:class:`policies.clusters.HotspotRule`); a hot spot needs at least three
  distinct residents.
* :func:`surge_alerts` counts each area × category over the latest window (7 days) and
  tests it against the same area's previous eight windows with a Poisson test
  (:class:`policies.clusters.SurgeRule`).

Every alert names the cluster(s), the area, the counts and, in ``why``, the reason it
fired, in a sentence staff can read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations.analytics.clustering import ClusterView
from integrations.analytics.facts import TicketFact
from integrations.analytics.labels import category_label, most_common
from policies.clusters import (
    DEFAULT_HOTSPOT_RULE,
    DEFAULT_SURGE_RULE,
    HotspotRule,
    SurgeRule,
    SurgeVerdict,
    hotspot_score,
    is_hotspot,
    surge_verdict,
)

__all__ = [
    "AREA_LEVELS",
    "Hotspot",
    "SurgeAlert",
    "area_of",
    "hotspots",
    "surge_alerts",
    "surge_table",
]

#: The areas surges are counted in.
AREA_LEVELS = ("street", "community")


def area_of(fact: TicketFact, level: str) -> str | None:
    """The ticket's area at ``level`` (``street`` or ``community``)."""
    if level == "street":
        return fact.street
    if level == "community":
        return fact.community
    raise ValueError(f"unknown area level {level!r}; one of {', '.join(AREA_LEVELS)}")


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A cluster that is hot now, with the figures behind its score."""

    cluster_id: str
    category: str
    place: str
    street: str | None
    community: str | None
    tickets: int
    residents: int
    recent: int  # tickets within the half-life (7 days)
    reopened: int
    unsatisfied: int
    score: float
    first_at: datetime
    last_at: datetime
    why: str


def hotspots(
    clusters: Iterable[ClusterView],
    facts: Mapping[str, TicketFact],
    now: datetime,
    rule: HotspotRule = DEFAULT_HOTSPOT_RULE,
    *,
    followers: Mapping[str, Iterable[tuple[str, datetime]]] | None = None,
) -> list[Hotspot]:
    """The clusters that are hot spots at ``now``, hottest first (tickets filed after
    ``now`` are ignored; tickets missing from ``facts`` too). ``followers``: by cluster
    id, the residents who chose to follow one of its tickets instead of filing one
    (resident, when): each counts as one more resident."""
    found: list[Hotspot] = []
    for cluster in clusters:
        members = [
            facts[t] for t in cluster.ticket_ids if t in facts and facts[t].created_at <= now
        ]
        extra = [
            (who, at) for who, at in (followers or {}).get(cluster.id, ()) if at <= now
        ]
        if len(members) + len(extra) < rule.min_residents or not members:
            continue
        latest: dict[str, datetime] = {}
        reports = [(f.openid, f.created_at) for f in members] + extra
        for resident, at in reports:
            if resident:
                seen = latest.get(resident)
                if seen is None or at > seen:
                    latest[resident] = at
        if len(latest) < rule.min_residents:
            continue
        reopen_ages = [now - f.created_at for f in members for _ in range(f.reopened)]
        unsatisfied = [f for f in members if f.rating == "unsatisfied"]
        score = hotspot_score(
            (now - at for at in latest.values()),
            reopen_ages,
            (now - f.created_at for f in unsatisfied),
            rule,
        )
        if not is_hotspot(len(latest), score, rule):
            continue
        recent = sum(1 for f in members if now - f.created_at <= rule.half_life)
        street = most_common(f.street for f in members)
        community = most_common(f.community for f in members)
        place = cluster.place or community or street or "未知地点"
        label = category_label(cluster.category)
        why = (
            f"{place}“{label}”：{len(latest)}位居民反映{len(members)}次，"
            f"近{rule.half_life.days}天{recent}次"
        )
        if reopen_ages:
            why += f"，重新办理{len(reopen_ages)}次"
        if unsatisfied:
            why += f"，不满意{len(unsatisfied)}次"
        why += f"；热度{score:.1f}（门槛{rule.min_score:g}）。"
        found.append(
            Hotspot(
                cluster_id=cluster.id,
                category=cluster.category,
                place=place,
                street=street,
                community=community,
                tickets=len(members),
                residents=len(latest),
                recent=recent,
                reopened=len(reopen_ages),
                unsatisfied=len(unsatisfied),
                score=score,
                first_at=min(f.created_at for f in members),
                last_at=max(f.created_at for f in members),
                why=why,
            )
        )
    found.sort(key=lambda h: (-h.score, h.cluster_id))
    return found


@dataclass(frozen=True, slots=True)
class SurgeAlert:
    """One area × category whose latest window is a surge (see :class:`SurgeRule`)."""

    key: str  # stable: the same surge found again the next hour has the same key
    area: str
    level: str
    category: str
    window_start: datetime
    window_end: datetime
    count: int
    residents: int
    baseline: float
    expected: float
    ratio: float
    p_value: float
    clusters: tuple[tuple[str, int], ...]  # (cluster id, tickets in the window), largest first
    why: str


def _windows(
    facts: Iterable[TicketFact],
    as_of: datetime,
    level: str,
    rule: SurgeRule,
    history_start: datetime | None,
) -> tuple[dict[tuple[str, str], list[list[TicketFact]]], int]:
    """Tickets by (area, category), then by window: 0 the latest, 1… the baseline; and how
    many baseline windows lie wholly after the start of the history (the earliest ticket
    unless given)."""
    table: dict[tuple[str, str], list[list[TicketFact]]] = defaultdict(
        lambda: [[] for _ in range(rule.baseline_windows + 1)]
    )
    facts = list(facts)
    if history_start is None:
        history_start = min((f.created_at for f in facts), default=as_of)
    known = sum(
        1
        for i in range(1, rule.baseline_windows + 1)
        if as_of - (i + 1) * rule.window >= history_start
    )
    for fact in facts:
        age = as_of - fact.created_at
        if age < timedelta(0):
            continue
        index = int(age / rule.window)
        if index > rule.baseline_windows:
            continue
        area = area_of(fact, level)
        if area:
            table[(area, fact.category)][index].append(fact)
    return table, known


def surge_table(
    facts: Iterable[TicketFact],
    as_of: datetime,
    *,
    level: str = "street",
    rule: SurgeRule = DEFAULT_SURGE_RULE,
    history_start: datetime | None = None,
) -> dict[tuple[str, str], SurgeVerdict]:
    """The surge test of every area × category with tickets in the last nine windows
    (for a console table, or to see why something did not fire)."""
    out = {}
    table, known = _windows(facts, as_of, level, rule, history_start)
    for key, windows in table.items():
        current = windows[0]
        residents = len({f.openid for f in current if f.openid})
        baseline = [len(w) for w in windows[1 : known + 1]]
        out[key] = surge_verdict(len(current), residents, baseline, rule)
    return out


def surge_alerts(
    facts: Iterable[TicketFact],
    as_of: datetime,
    *,
    level: str = "street",
    rule: SurgeRule = DEFAULT_SURGE_RULE,
    cluster_of: Mapping[str, str] | Callable[[str], str | None] | None = None,
    history_start: datetime | None = None,
) -> list[SurgeAlert]:
    """The surges at ``as_of``: tickets of the window ending at ``as_of`` against the
    windows before it, per area (``street`` or ``community``) and category; strongest
    (smallest p) first. ``cluster_of`` (a mapping or ``ClusterEngine.cluster_of``) names
    the clusters the tickets of the window belong to. ``history_start``: when the ticket
    history begins (default: the earliest ticket given); earlier windows are unknown.
    Pass at least the last nine windows of tickets."""
    lookup: Callable[[str], str | None]
    if cluster_of is None:
        lookup = lambda _t: None  # noqa: E731 - a trivial default
    elif callable(cluster_of):
        lookup = cluster_of
    else:
        lookup = cluster_of.get
    alerts = []
    days = rule.window.days or 1
    table, known = _windows(facts, as_of, level, rule, history_start)
    for (area, category), windows in table.items():
        current = windows[0]
        if len(current) < rule.min_count:
            continue  # cheap pre-check: most pairs stop here
        residents = len({f.openid for f in current if f.openid})
        baseline = [len(w) for w in windows[1 : known + 1]]
        verdict = surge_verdict(len(current), residents, baseline, rule)
        if not verdict.fired:
            continue
        counts = Counter(lookup(f.id) or f.id for f in current)
        clusters = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))[:5]
        label = category_label(category)
        why = (
            f"{area}近{days}天“{label}”{verdict.count}件（{verdict.residents}位居民），"
            f"此前{rule.baseline_windows}个{days}天平均{verdict.baseline:.1f}件，"
            f"是平时的{verdict.ratio:.1f}倍（泊松检验 p={verdict.p_value:.1g}）"
        )
        if clusters and clusters[0][1] > 1:
            why += f"；最集中的一类问题{clusters[0][1]}件（{clusters[0][0]}）"
        why += "。"
        window_start = as_of - rule.window
        alerts.append(
            SurgeAlert(
                key=f"surge:{level}:{area}:{category}:{window_start.date().isoformat()}",
                area=area,
                level=level,
                category=category,
                window_start=window_start,
                window_end=as_of,
                count=verdict.count,
                residents=verdict.residents,
                baseline=verdict.baseline,
                expected=verdict.expected,
                ratio=verdict.ratio,
                p_value=verdict.p_value,
                clusters=clusters,
                why=why,
            )
        )
    alerts.sort(key=lambda a: (a.p_value, a.area, a.category))
    return alerts
