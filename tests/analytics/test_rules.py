"""The pure rules of policies/clusters.py: related categories, place matching, thresholds,
the hot-spot score, the Poisson surge test, 三率 outcomes, quadrants and monthly scores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from scipy.stats import poisson

from policies.clusters import (
    BUILDING_LEVEL_CATEGORIES,
    RELATED_PAIRS,
    ClusterRule,
    HotspotRule,
    MonthlyRule,
    PlaceMatch,
    Quadrant,
    RatesRule,
    SurgeRule,
    categories_related,
    composite_score,
    decay,
    hotspot_score,
    is_hotspot,
    monthly_score,
    place_match,
    poisson_sf,
    quadrant,
    related_categories,
    resolution_outcome,
    response_outcome,
    satisfaction_value,
    surge_verdict,
)
from policies.taxonomy import load_taxonomy

CST = timezone(timedelta(hours=8))
T = datetime(2026, 6, 1, 9, tzinfo=CST)


def test_related_categories_are_symmetric_known_and_not_transitive() -> None:
    known = set(load_taxonomy().report_ids)
    for a, b, why in RELATED_PAIRS:
        assert {a, b} <= known and why
        assert categories_related(a, b) and categories_related(b, a)
    assert known >= BUILDING_LEVEL_CATEGORIES
    assert categories_related("report.drainage", "report.water_supply")
    assert categories_related("report.drainage", "report.pollution")
    assert not categories_related("report.water_supply", "report.pollution")
    assert not categories_related("report.streetlight", "report.manhole")
    assert related_categories("report.noise") == {"report.noise"}


def _match(
    keys=(),
    number=None,
    point=None,
    area=None,
    c_keys=(),
    c_numbers=None,
    c_points=(),
    c_areas=(),
    c_vague=False,
    **kw,
) -> PlaceMatch:  # type: ignore[no-untyped-def]
    return place_match(
        keys, number, point, area, c_keys, c_numbers or {}, c_points, c_areas, c_vague, **kw
    )


def test_place_match_by_key_road_number_coordinates_and_area() -> None:
    crossing = "crossing:中山街×解放路"
    assert _match((crossing,), c_keys={crossing, "estate:幸福家园"}) == PlaceMatch.KEY
    assert (
        _match(("road:解放路",), 90, c_keys={"road:解放路"}, c_numbers={"road:解放路": [88]})
        == PlaceMatch.ROAD
    )
    # 300 house numbers apart: another stretch of the road.
    assert (
        _match(("road:解放路",), 388, c_keys={"road:解放路"}, c_numbers={"road:解放路": [88]})
        == PlaceMatch.NONE
    )
    # Coordinates decide only when one side names no place.
    here, near = (30.25, 120.16), (30.2505, 120.1605)
    assert _match((), point=here, c_keys={crossing}, c_points=[near]) == PlaceMatch.NEAR
    assert (
        _match(("estate:幸福家园",), point=here, c_keys={crossing}, c_points=[near])
        == PlaceMatch.NONE
    )
    # The community alone matches only a vague side.
    assert _match((), area="一社区", c_keys={crossing}, c_areas={"一社区"}) == PlaceMatch.AREA
    assert (
        _match(("estate:幸福家园",), area="一社区", c_keys={crossing}, c_areas={"一社区"})
        == PlaceMatch.NONE
    )
    assert (
        _match(("estate:幸福家园",), area="一社区", c_areas={"一社区"}, c_vague=True)
        == PlaceMatch.AREA
    )


def test_building_level_problems_in_other_buildings_are_elsewhere() -> None:
    estate = ("estate:幸福家园",)
    common = {"c_keys": set(estate), "building_level": True, "cluster_buildings": {"3"}}
    assert _match(estate, building="7", **common) == PlaceMatch.NONE
    assert _match(estate, building="3", **common) == PlaceMatch.KEY
    assert _match(estate, building=None, **common) == PlaceMatch.KEY
    assert (
        _match(estate, building="7", c_keys=set(estate), cluster_buildings={"3"}) == PlaceMatch.KEY
    )


def test_thresholds_rise_with_weaker_places_and_fall_with_recency() -> None:
    rule = ClusterRule()
    key = rule.threshold(True, PlaceMatch.KEY)
    assert rule.threshold(False, PlaceMatch.KEY) > key
    assert rule.threshold(True, PlaceMatch.ROAD) >= key
    assert rule.threshold(True, PlaceMatch.AREA) > rule.threshold(True, PlaceMatch.ROAD)
    assert rule.threshold(True, PlaceMatch.NONE) > 1
    assert rule.threshold(True, PlaceMatch.KEY, timedelta(hours=1)) < key
    assert rule.threshold(True, PlaceMatch.KEY, timedelta(0)) >= rule.min_similarity
    assert rule.within_window(T + rule.window, T, T)
    assert not rule.within_window(T + rule.window + timedelta(seconds=1), T, T)
    with pytest.raises(ValueError, match="window"):
        ClusterRule(window=timedelta(0))


def test_hotspot_score_weighs_residents_by_recency_and_adds_reopenings() -> None:
    rule = HotspotRule()
    assert decay(timedelta(0), rule) == 1.0
    assert decay(rule.half_life, rule) == pytest.approx(0.5)
    assert decay(rule.horizon + timedelta(days=1), rule) == 0.0
    three_today = hotspot_score([timedelta(0)] * 3, [], [], rule)
    assert three_today == pytest.approx(3.0)
    assert is_hotspot(3, three_today, rule)
    assert not is_hotspot(2, 10.0, rule)  # two residents are never a hot spot
    old = hotspot_score([timedelta(days=14)] * 3, [], [], rule)
    assert old == pytest.approx(0.75) and not is_hotspot(3, old, rule)
    assert hotspot_score(
        [timedelta(days=14)] * 3, [timedelta(0)], [timedelta(0)], rule
    ) == pytest.approx(2.75)


@pytest.mark.parametrize(
    ("k", "mu"), [(0, 1.0), (1, 0.5), (5, 1.0), (12, 2.1), (3, 7.5), (60, 10.0)]
)
def test_poisson_tail_matches_scipy(k: int, mu: float) -> None:
    assert poisson_sf(k, mu) == pytest.approx(poisson.sf(k - 1, mu), rel=1e-9, abs=1e-300)


def test_surge_verdict_needs_count_ratio_residents_and_a_small_p() -> None:
    rule = SurgeRule()
    fired = surge_verdict(12, 10, [2, 1, 3, 2, 2, 1, 2, 3], rule)
    assert fired.fired and fired.failed == ()
    assert fired.baseline == pytest.approx(2.0) and fired.ratio == pytest.approx(6.0)
    assert fired.p_value < rule.alpha
    steady = surge_verdict(3, 3, [2, 3, 2, 4, 3, 2, 3, 3], rule)
    assert not steady.fired and "count" in steady.failed
    two_people = surge_verdict(12, 2, [2] * 8, rule)
    assert two_people.failed == ("residents",)
    busy = surge_verdict(30, 20, [20, 22, 19, 21, 20, 18, 23, 20], rule)
    assert not busy.fired and "ratio" in busy.failed
    # An area with no history: λ is the floor, not zero.
    new = surge_verdict(6, 6, [0] * 8, rule)
    assert new.expected == rule.baseline_floor and new.fired


def test_response_and_resolution_outcomes() -> None:
    rule = RatesRule()
    assert response_outcome(T, T + timedelta(hours=3), T + timedelta(days=5), rule) is True
    assert response_outcome(T, T + timedelta(hours=30), T + timedelta(days=5), rule) is False
    assert response_outcome(T, None, T + timedelta(hours=2), rule) is None
    assert response_outcome(T, None, T + timedelta(hours=25), rule) is False
    due = T + timedelta(days=3)
    assert resolution_outcome("closed", due, T) is True
    assert resolution_outcome("in_progress", due, T + timedelta(days=1)) is None
    assert resolution_outcome("in_progress", due, T + timedelta(days=4)) is False
    assert resolution_outcome("reopened", due, T + timedelta(days=4)) is False
    assert resolution_outcome("rejected", due, T + timedelta(days=4)) is None
    assert (
        satisfaction_value("basically_satisfied", RatesRule(basically_satisfied_weight=0.8)) == 0.8
    )
    assert satisfaction_value(None, rule) is None


def test_composite_score_uses_30_35_35_and_rescales_missing_rates() -> None:
    assert composite_score(1.0, 0.5, 0.5) == pytest.approx(65.0)
    assert composite_score(None, 1.0, 0.0) == pytest.approx(50.0)
    assert composite_score(None, None, None) is None


def test_quadrants() -> None:
    assert quadrant(10, 0.9, 5, 0.8) == Quadrant.LEADING
    assert quadrant(1, 0.9, 5, 0.8) == Quadrant.STEADY
    assert quadrant(1, 0.5, 5, 0.8) == Quadrant.IMPROVE
    assert quadrant(10, 0.5, 5, 0.8) == Quadrant.FOCUS
    assert Quadrant.FOCUS.label == "重点关注"


def test_monthly_score_is_weighted_share_of_the_months_largest() -> None:
    rule = MonthlyRule()
    top = dict.fromkeys(rule.weights, 10)
    assert monthly_score(top, top, rule) == pytest.approx(100.0)
    half = dict.fromkeys(rule.weights, 5)
    assert monthly_score(half, top, rule) == pytest.approx(50.0)
    only_volume = {"tickets": 10}
    assert monthly_score(only_volume, top, rule) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="unknown monthly metrics"):
        MonthlyRule(weights={"likes": 1.0})
