"""Rules of the analytics: problem clusters (一类问题), hot spots and surges (未诉先办),
每月一题, 三率 and the four quadrants.

Pure decisions over plain values; ``integrations/analytics`` applies them to tickets. Each
rule lives in one place here:

* which categories are related: :data:`RELATED_PAIRS` (with the reason for each pair);
* when a ticket is at a cluster's place: :func:`place_match`; how similar its words must
  be and within which window: :class:`ClusterRule`;
* the hot-spot score: :class:`HotspotRule`, :func:`hotspot_score`;
* the surge test: :class:`SurgeRule`, :func:`poisson_sf`, :func:`surge_verdict`;
* 三率: :class:`RatesRule`, :func:`response_outcome`, :func:`resolution_outcome`,
  :func:`satisfaction_value`, :func:`composite_score`;
* the four quadrants: :class:`Quadrant`, :func:`quadrant`;
* 每月一题: :class:`MonthlyRule`, :func:`monthly_score`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Final

from policies.place_key import SPECIFIC_KINDS, distance_m

__all__ = [
    "BUILDING_LEVEL_CATEGORIES",
    "DEFAULT_CLUSTER_RULE",
    "DEFAULT_HOTSPOT_RULE",
    "DEFAULT_MONTHLY_RULE",
    "DEFAULT_RATES_RULE",
    "DEFAULT_SURGE_RULE",
    "MONTHLY_METRICS",
    "RELATED_PAIRS",
    "ClusterRule",
    "HotspotRule",
    "MonthlyRule",
    "PlaceMatch",
    "Quadrant",
    "RatesRule",
    "SurgeRule",
    "SurgeVerdict",
    "categories_related",
    "composite_score",
    "decay",
    "hotspot_score",
    "is_hotspot",
    "is_overdue",
    "monthly_score",
    "place_match",
    "poisson_sf",
    "quadrant",
    "related_categories",
    "resolution_outcome",
    "response_outcome",
    "satisfaction_value",
    "surge_verdict",
]

# == problem clusters ===========================================================================

#: Category pairs whose tickets may describe one problem: residents (and the classifier)
#: file the same thing under either. A ticket may join a cluster of a related category,
#: but its words must then be closer (``ClusterRule.related_threshold``). The relation
#: is not transitive on purpose: drainage ~ water supply and drainage ~ pollution do not
#: make water supply ~ pollution.
RELATED_PAIRS: Final[tuple[tuple[str, str, str], ...]] = (
    # A burst main floods the street: some call it 积水 (drainage), some 停水/水管爆裂.
    ("report.drainage", "report.water_supply", "水管爆裂既会被报成积水，也会被报成停水"),
    # Overflowing sewers smell: 污水外溢 (drainage) or 异味/排污 (pollution).
    ("report.drainage", "report.pollution", "污水外溢常被报成异味、排污"),
    # A manhole sits in the road: a sunken or broken cover is also 路面塌陷/坑洼.
    ("report.road_damage", "report.manhole", "井盖在路面上，破损塌陷两类都会报"),
    # A broken pavement is also a broken tactile path (盲道) or ramp.
    ("report.road_damage", "report.accessibility", "人行道破损常连带盲道、坡道"),
    # Both are fire hazards in the stairwell: bikes charging among piled-up things.
    ("report.corridor_clutter", "report.ebike_charging", "楼道堆物和楼道充电常是同一处隐患"),
    # Uncollected rubbish smells: 垃圾堆积 or 异味.
    ("report.garbage", "report.pollution", "垃圾堆积发臭也会被报成异味"),
    # A broken lift is often framed as the management company doing nothing.
    ("report.elevator", "report.property_dispute", "电梯坏了常被报成物业不作为"),
)


#: Categories whose problem belongs to one building, not the whole estate: two tickets
#: naming different buildings (3号楼, 7栋) are different problems even if worded alike.
BUILDING_LEVEL_CATEGORIES: Final = frozenset(
    {
        "report.elevator",
        "report.corridor_clutter",
        "report.ebike_charging",
        "report.neighbor_dispute",
        "report.group_rental",
        "report.elderly_care",
    }
)


def _related_map(pairs: Iterable[tuple[str, str, str]]) -> Mapping[str, frozenset[str]]:
    related: dict[str, set[str]] = {}
    for a, b, _why in pairs:
        related.setdefault(a, set()).add(b)
        related.setdefault(b, set()).add(a)
    return MappingProxyType({k: frozenset(v) for k, v in related.items()})


_RELATED: Final = _related_map(RELATED_PAIRS)


def related_categories(category: str) -> frozenset[str]:
    """The category itself and the categories related to it."""
    return _RELATED.get(category, frozenset()) | {category}


def categories_related(a: str, b: str) -> bool:
    """Whether tickets of categories ``a`` and ``b`` may belong to one cluster."""
    return a == b or b in _RELATED.get(a, frozenset())


class PlaceMatch(IntEnum):
    """How a ticket's place matches a cluster's, strongest last."""

    NONE = 0
    AREA = 1  # one side has no usable place: only the same community (vague: 小区门口)
    ROAD = 2  # the same road, house numbers (if any on both sides) close
    NEAR = 3  # coordinates within ClusterRule.radius_m
    KEY = 4  # the same crossing, estate, landmark or village


@dataclass(frozen=True, slots=True)
class ClusterRule:
    """When a ticket joins a cluster.

    A ticket joins the most similar cluster that (1) is of the same or a related category,
    (2) is at the same place (:func:`place_match`), (3) had a ticket within ``window`` of
    it, and (4) whose description is similar enough: cosine of character 2–3-gram TF-IDF
    vectors at least :meth:`threshold`. Otherwise it opens a cluster of its own.
    Staff corrections (merge / split) override all four.
    """

    #: a cluster stays open while its tickets are at most this far apart (a quiet spell
    #: this long ends the episode: the next ticket about it opens a new cluster)
    window: timedelta = timedelta(days=21)
    #: similarity needed for a ticket of the same category at the same place
    same_threshold: float = 0.10
    #: … of a related category (the words must say more clearly that it is the same thing)
    related_threshold: float = 0.30
    #: added when the places match only by road (a road is a line, not a spot)
    road_extra: float = 0.03
    #: added when one side has no usable place and only the community matches
    area_extra: float = 0.10
    #: coordinates this close are the same place (FixMyStreet offers reports within ~250 m;
    #: a cluster wants the same spot)
    radius_m: float = 150.0
    #: house numbers on one road further apart than this are different spots
    road_number_span: int = 60
    #: how many of a cluster's latest tickets a new one is compared with (plus the centroid)
    recent_members: int = 16
    #: a ticket close in time to the cluster's latest one needs less similarity: the
    #: threshold drops by up to this much, halving every ``recency_half_life``
    recency_bonus: float = 0.12
    recency_half_life: timedelta = timedelta(days=3)
    #: … but never below this: two texts with nothing in common stay apart
    min_similarity: float = 0.04
    #: a ticket similar enough to several clusters joins them into one (single link): the
    #: same problem first reported in words too different to be recognised as one
    bridge: bool = True

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise ValueError("the cluster window must be positive")
        for name in ("same_threshold", "related_threshold", "road_extra", "area_extra"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.radius_m <= 0 or self.road_number_span < 0 or self.recent_members < 1:
            raise ValueError("radius, number span and recent members must be positive")

    def threshold(
        self, same_category: bool, match: PlaceMatch, gap: timedelta = timedelta.max
    ) -> float:
        """Similarity a candidate needs to be joined (above 1: never); ``gap``: time from
        the cluster's nearest ticket."""
        if match == PlaceMatch.NONE:
            return math.inf
        base = self.same_threshold if same_category else self.related_threshold
        if gap < timedelta.max:
            recent = self.recency_bonus * 0.5 ** (abs(gap) / self.recency_half_life)
            base = max(self.min_similarity, base - recent)
        if match == PlaceMatch.ROAD:
            base += self.road_extra
        elif match == PlaceMatch.AREA:
            base += self.area_extra
        return base

    def within_window(self, at: datetime, first: datetime, last: datetime) -> bool:
        """Whether a ticket at ``at`` is close enough in time to a cluster spanning
        ``first`` … ``last``."""
        return first - self.window <= at <= last + self.window


DEFAULT_CLUSTER_RULE: Final = ClusterRule()


def _key_kind(key: str) -> str:
    return key.split(":", 1)[0]


def place_match(
    keys: Sequence[str],
    number: int | None,
    point: tuple[float, float] | None,
    area: str | None,
    cluster_keys: Iterable[str],
    cluster_numbers: Mapping[str, Sequence[int]],
    cluster_points: Sequence[tuple[float, float]],
    cluster_areas: Iterable[str],
    cluster_vague: bool,
    rule: ClusterRule = DEFAULT_CLUSTER_RULE,
    *,
    building: str | None = None,
    cluster_buildings: Iterable[str] = (),
    building_level: bool = False,
) -> PlaceMatch:
    """How the ticket's place (its place ``keys`` from :func:`policies.place_key.place_key`,
    road house ``number``, ``point`` (lat, lon) and ``area`` (its community)) matches a
    cluster's (the union over its tickets; ``cluster_numbers`` by road key;
    ``cluster_vague``: no ticket of the cluster had a place key or coordinates). Matching
    by community alone (``AREA``) needs one side to be vague: a resident who wrote only
    小区门口 may mean any spot of the community, but two named spots of one community are
    different places.

    For a ``building_level`` category (:data:`BUILDING_LEVEL_CATEGORIES`), a ticket naming
    a ``building`` that none of the cluster's tickets named is elsewhere, even in the
    same estate (when either side names no building, the estate decides).

    Coordinates (``NEAR``: within ``rule.radius_m``) count only when one side names no
    place (a location message whose label could not be read, a vague 楼下): two tickets
    that both name a place, and not the same one, are at different places."""
    cluster_keys = set(cluster_keys)
    shared = cluster_keys.intersection(keys)
    if building_level and building is not None:
        buildings = set(cluster_buildings)
        if buildings and building not in buildings:
            return PlaceMatch.NONE
    if any(_key_kind(k) in SPECIFIC_KINDS for k in shared):
        return PlaceMatch.KEY
    named_apart = bool(keys) and bool(cluster_keys) and not shared
    if point is not None and cluster_points and not named_apart:
        lat, lon = point
        if any(
            distance_m(lat, lon, c_lat, c_lon) <= rule.radius_m for c_lat, c_lon in cluster_points
        ):
            return PlaceMatch.NEAR
    for key in shared:  # roads only, now
        numbers = cluster_numbers.get(key, ())
        if number is None or not numbers:
            return PlaceMatch.ROAD
        if min(abs(number - n) for n in numbers) <= rule.road_number_span:
            return PlaceMatch.ROAD
    vague = not keys and point is None
    if area and (vague or cluster_vague) and area in set(cluster_areas):
        return PlaceMatch.AREA
    return PlaceMatch.NONE


# == hot spots ==================================================================================


@dataclass(frozen=True, slots=True)
class HotspotRule:
    """A cluster is a hot spot when at least ``min_residents`` distinct residents reported it
    and its score reaches ``min_score``.

    score = Σ over distinct residents of decay(age of their latest ticket)
            + ``reopen_weight`` × Σ over reopenings of decay(age of the ticket)
            + ``unsatisfied_weight`` × Σ over 不满意 ratings of decay(age of the ticket)

    with decay(age) = 0.5 ** (age / ``half_life``): a resident who wrote today counts 1, one
    who wrote a week ago ½. Tickets older than ``horizon`` count 0.
    """

    min_residents: int = 3
    min_score: float = 2.0
    half_life: timedelta = timedelta(days=7)
    horizon: timedelta = timedelta(days=60)
    reopen_weight: float = 1.0
    unsatisfied_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.min_residents < 1 or self.half_life <= timedelta(0):
            raise ValueError("min_residents and half_life must be positive")


DEFAULT_HOTSPOT_RULE: Final = HotspotRule()


def decay(age: timedelta, rule: HotspotRule = DEFAULT_HOTSPOT_RULE) -> float:
    """Weight of something ``age`` old: 1 now, ½ after one half-life, 0 past the horizon
    (and for the future, which a clock skew could produce: counted as now)."""
    if age > rule.horizon:
        return 0.0
    return float(0.5 ** (max(age, timedelta(0)) / rule.half_life))


def hotspot_score(
    resident_ages: Iterable[timedelta],
    reopen_ages: Iterable[timedelta],
    unsatisfied_ages: Iterable[timedelta],
    rule: HotspotRule = DEFAULT_HOTSPOT_RULE,
) -> float:
    """The hot-spot score (see :class:`HotspotRule`): ``resident_ages`` holds one age per
    distinct resident (of their latest ticket), ``reopen_ages`` one per reopening."""
    return (
        sum(decay(a, rule) for a in resident_ages)
        + rule.reopen_weight * sum(decay(a, rule) for a in reopen_ages)
        + rule.unsatisfied_weight * sum(decay(a, rule) for a in unsatisfied_ages)
    )


def is_hotspot(residents: int, score: float, rule: HotspotRule = DEFAULT_HOTSPOT_RULE) -> bool:
    return residents >= rule.min_residents and score >= rule.min_score


# == surges (未诉先办) ===========================================================================


@dataclass(frozen=True, slots=True)
class SurgeRule:
    """A surge of one problem class (category) in one area: the count of the latest
    ``window`` is improbably high against the same area's own ``baseline_windows``
    preceding windows.

    Test: with λ = max(mean count of the baseline windows, ``baseline_floor``), the
    Poisson probability of seeing at least the current count is below ``alpha``; and the
    count is at least ``min_count``, at least ``min_ratio`` × λ, from at least
    ``min_residents`` distinct residents. ``alpha`` is small because the test runs for
    every area × category each time (20 categories × 30 streets = 600 tests a day).
    Windows before the history began are left out of the baseline (they are unknown, not
    zero); with fewer than ``min_baseline_windows`` left there is no verdict.
    """

    window: timedelta = timedelta(days=7)
    baseline_windows: int = 8
    #: fewer baseline windows than this with data (a new deployment): no test at all
    min_baseline_windows: int = 4
    alpha: float = 0.001
    min_count: int = 5
    min_ratio: float = 2.0
    min_residents: int = 3
    baseline_floor: float = 0.5

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.baseline_windows < 1:
            raise ValueError("window and baseline_windows must be positive")
        if not 1 <= self.min_baseline_windows <= self.baseline_windows:
            raise ValueError("min_baseline_windows must be between 1 and baseline_windows")
        if not 0.0 < self.alpha < 1.0 or self.baseline_floor <= 0:
            raise ValueError("alpha must be in (0, 1) and baseline_floor positive")


DEFAULT_SURGE_RULE: Final = SurgeRule()


def poisson_sf(k: int, mu: float) -> float:
    """P(X ≥ k) for X ~ Poisson(mu), accurate in the far tail (no ``1 - cdf`` there)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    log_term = -mu + k * math.log(mu) - math.lgamma(k + 1)
    if k > mu:  # sum the upper tail directly: its terms fall fast
        term = math.exp(log_term)
        total = 0.0
        i = k
        while term > 0.0 and term > total * 1e-17:
            total += term
            i += 1
            term *= mu / i
        return min(1.0, total)
    # Around and below the mean the tail is large: 1 - P(X ≤ k - 1) is accurate enough.
    term = math.exp(-mu)
    lower = term
    for i in range(1, k):
        term *= mu / i
        lower += term
    return max(0.0, 1.0 - lower)


@dataclass(frozen=True, slots=True)
class SurgeVerdict:
    """The outcome of the surge test with its figures; ``failed`` names the conditions
    that were not met (empty when it fired)."""

    fired: bool
    count: int
    residents: int
    baseline: float  # mean count per window over the baseline windows
    expected: float  # λ of the test: the baseline, at least SurgeRule.baseline_floor
    ratio: float
    p_value: float
    failed: tuple[str, ...] = field(default=())


def surge_verdict(
    count: int, residents: int, baseline_counts: Sequence[int], rule: SurgeRule = DEFAULT_SURGE_RULE
) -> SurgeVerdict:
    """Whether ``count`` tickets (from ``residents`` distinct residents) in the latest window
    are a surge against ``baseline_counts`` (one count per earlier window)."""
    mean = sum(baseline_counts) / len(baseline_counts) if baseline_counts else 0.0
    expected = max(mean, rule.baseline_floor)
    p_value = poisson_sf(count, expected)
    ratio = count / expected
    failed = []
    if len(baseline_counts) < rule.min_baseline_windows:
        failed.append("history")
    if count < rule.min_count:
        failed.append("count")
    if residents < rule.min_residents:
        failed.append("residents")
    if ratio < rule.min_ratio:
        failed.append("ratio")
    if p_value >= rule.alpha:
        failed.append("p_value")
    return SurgeVerdict(
        fired=not failed,
        count=count,
        residents=residents,
        baseline=mean,
        expected=expected,
        ratio=ratio,
        p_value=p_value,
        failed=tuple(failed),
    )


# == 三率 ========================================================================================

#: Statuses in which the department has finished the work (the resident did not send it back).
RESOLVED_STATUSES: Final = frozenset({"resolved", "closed"})
#: Tickets staff refused (not a government matter, a duplicate…) are not judged on
#: resolution or satisfaction; they still had to be signed for in time.
NOT_JUDGED_STATUSES: Final = frozenset({"rejected"})


@dataclass(frozen=True, slots=True)
class RatesRule:
    """Definitions of the three rates and their weights.

    * 响应率 response rate: of tickets whose signing deadline (``sign_within`` after filing)
      has passed or that were signed, the share signed for within it.
    * 解决率 resolution rate: of tickets past their deadline or finished (rejected ones
      left out), the share finished — status resolved/closed. A ticket reopened after an
      unsatisfied rating counts as unresolved until it is finished again.
    * 满意率 satisfaction rate: of rated tickets, the share rated 满意, plus
      ``basically_satisfied_weight`` × the share rated 基本满意 (1.0: counted as satisfied;
      some cities use 0.8).
    * composite = ``weights`` (response, resolution, satisfaction; published schemes use
      about 30/35/35) applied to the three rates, on a 0–100 scale; a rate with nothing to
      judge is left out and the other weights rescaled.

    Groups with fewer than ``min_judged`` tickets behind a rate get the rate but are marked
    ``thin`` (a 100 % from two tickets says little).
    """

    sign_within: timedelta = timedelta(hours=24)
    weights: tuple[float, float, float] = (30.0, 35.0, 35.0)
    basically_satisfied_weight: float = 1.0
    min_judged: int = 5

    def __post_init__(self) -> None:
        if self.sign_within <= timedelta(0):
            raise ValueError("sign_within must be positive")
        if len(self.weights) != 3 or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError("three non-negative weights with a positive sum are needed")
        if not 0.0 <= self.basically_satisfied_weight <= 1.0:
            raise ValueError("basically_satisfied_weight must be between 0 and 1")


DEFAULT_RATES_RULE: Final = RatesRule()


def response_outcome(
    created_at: datetime,
    signed_at: datetime | None,
    as_of: datetime,
    rule: RatesRule = DEFAULT_RATES_RULE,
    deadline: datetime | None = None,
) -> bool | None:
    """True: signed for in time; False: late or still unsigned after the deadline;
    None: not yet judged (unsigned, deadline not reached). ``deadline``: the ticket's own
    签收 deadline (working time), else ``rule.sign_within`` after filing."""
    if deadline is None:
        deadline = created_at + rule.sign_within
    if signed_at is not None and signed_at <= as_of:
        return signed_at <= deadline
    return False if as_of > deadline else None


def resolution_outcome(
    status: str,
    due_at: datetime | None,
    as_of: datetime,
    resolved_at: datetime | None = None,
) -> bool | None:
    """True: finished; False: past its deadline and not finished; None: not judged (still
    within its deadline, or rejected). A ticket finished after ``as_of`` (``resolved_at``)
    was not finished yet at ``as_of``."""
    if status in NOT_JUDGED_STATUSES:
        return None
    if status in RESOLVED_STATUSES and (resolved_at is None or resolved_at <= as_of):
        return True
    if due_at is not None and as_of > due_at:
        return False
    return None


def is_overdue(
    status: str, due_at: datetime | None, resolved_at: datetime | None, as_of: datetime
) -> bool:
    """Finished after its deadline, or still open past it at ``as_of`` (rejected tickets
    and tickets without a deadline never are)."""
    if due_at is None or status in NOT_JUDGED_STATUSES:
        return False
    if status in RESOLVED_STATUSES and resolved_at is not None and resolved_at <= as_of:
        return resolved_at > due_at
    return as_of > due_at


def satisfaction_value(rating: str | None, rule: RatesRule = DEFAULT_RATES_RULE) -> float | None:
    """1 for 满意, ``basically_satisfied_weight`` for 基本满意, 0 for 不满意, None unrated."""
    if rating == "satisfied":
        return 1.0
    if rating == "basically_satisfied":
        return rule.basically_satisfied_weight
    if rating == "unsatisfied":
        return 0.0
    return None


def composite_score(
    response: float | None,
    resolution: float | None,
    satisfaction: float | None,
    rule: RatesRule = DEFAULT_RATES_RULE,
) -> float | None:
    """The weighted 三率 score on 0–100 (None when no rate can be judged)."""
    pairs = [
        (w, r)
        for w, r in zip(rule.weights, (response, resolution, satisfaction), strict=True)
        if r is not None
    ]
    total = sum(w for w, _ in pairs)
    if not pairs or total <= 0:
        return None
    return 100.0 * sum(w * r for w, r in pairs) / total


# == four quadrants =============================================================================


class Quadrant(Enum):
    """Placement of a department by workload (volume or difficulty, x) against
    satisfaction (y), split at the medians of all departments."""

    LEADING = "标杆"  # heavy load, satisfied residents: learn from them
    STEADY = "稳定"  # light load, satisfied residents
    IMPROVE = "待提升"  # light load, yet residents are not satisfied
    FOCUS = "重点关注"  # heavy load and residents not satisfied: help first

    @property
    def label(self) -> str:
        return self.value


def quadrant(x: float, y: float, x_split: float, y_split: float) -> Quadrant:
    """The quadrant of a point; a value on a split counts as high."""
    high_x, high_y = x >= x_split, y >= y_split
    if high_y:
        return Quadrant.LEADING if high_x else Quadrant.STEADY
    return Quadrant.FOCUS if high_x else Quadrant.IMPROVE


# == 每月一题 ====================================================================================

#: The per-class figures the monthly ranking weighs, in display order.
MONTHLY_METRICS: Final = (
    "tickets",
    "residents",
    "repeats",
    "overdue",
    "reopened",
    "dissatisfied",
)


@dataclass(frozen=True, slots=True)
class MonthlyRule:
    """每月一题 candidates: problem classes (category × area) of one month ranked by

    score = Σ weight[m] × value[m] / max over all classes of value[m]   (0–100)

    over :data:`MONTHLY_METRICS`: tickets (volume), distinct residents (breadth), repeats
    (tickets that joined an existing cluster: the same problem asked again), overdue,
    reopened and dissatisfied (hardness). Classes with fewer than ``min_tickets`` tickets
    are not ranked.
    """

    weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {
                "tickets": 30.0,
                "residents": 20.0,
                "repeats": 15.0,
                "overdue": 10.0,
                "reopened": 10.0,
                "dissatisfied": 15.0,
            }
        )
    )
    min_tickets: int = 3

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(MONTHLY_METRICS)
        if unknown:
            raise ValueError(f"unknown monthly metrics: {', '.join(sorted(unknown))}")
        if min(self.weights.values(), default=0.0) < 0:
            raise ValueError("monthly weights must not be negative")


DEFAULT_MONTHLY_RULE: Final = MonthlyRule()


def monthly_score(
    values: Mapping[str, int], maxima: Mapping[str, int], rule: MonthlyRule = DEFAULT_MONTHLY_RULE
) -> float:
    """The 每月一题 score of one class (see :class:`MonthlyRule`)."""
    total = sum(rule.weights.values())
    if total <= 0:
        return 0.0
    score = 0.0
    for metric, weight in rule.weights.items():
        top = maxima.get(metric, 0)
        if top > 0:
            score += weight * values.get(metric, 0) / top
    return 100.0 * score / total
