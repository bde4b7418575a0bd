"""The clustering engine: the same problem in any address wording joins one cluster,
different problems at one place do not, and staff corrections survive a rebuild."""

from __future__ import annotations

import json
import random

import pytest

from integrations.analytics import (
    ClusterEngine,
    Correction,
    InvalidCorrection,
    InvalidFact,
    UnknownCluster,
)
from policies.clusters import ClusterRule
from tests.analytics.factories import at, fact

# One missing manhole cover at one crossing, reported by five residents in their own words.
MANHOLE = [
    fact(
        "解放路与中山街路口的井盖丢了，晚上很危险",
        "解放路与中山街路口",
        category="report.manhole",
        created_at=at(0),
    ),
    fact(
        "井盖不见了，车开过去要出事",
        "中山街解放路口东侧",
        category="report.manhole",
        created_at=at(0, 5),
    ),
    fact(
        "你好，路口井盖没了只剩个洞，请尽快处理",
        "解放路中山街交叉口北侧",
        category="report.manhole",
        created_at=at(1),
    ),
    fact(
        "窨井盖丢失好几天了",
        "滨河区解放路/中山街十字路口",
        category="report.manhole",
        created_at=at(2, 3),
    ),
    fact(
        "中山街和解放路交汇处井盖被偷了，老人小孩经过很危险",
        "中山街和解放路交汇处",
        category="report.manhole",
        created_at=at(4),
    ),
]


def _rebuilt(facts, corrections=()):  # type: ignore[no-untyped-def]
    engine = ClusterEngine(corrections=corrections)
    engine.rebuild(facts)
    return engine


def test_the_same_problem_in_different_address_wordings_joins_one_cluster() -> None:
    engine = _rebuilt(MANHOLE)
    clusters = {engine.cluster_of(f.id) for f in MANHOLE}
    assert len(clusters) == 1
    view = engine.cluster(clusters.pop())  # type: ignore[arg-type]
    assert view.id == MANHOLE[0].id  # named after its earliest ticket
    assert view.size == 5 and view.residents == 5
    assert view.place == "中山街与解放路路口" or "解放路" in view.place


def test_incremental_assignment_joins_as_tickets_are_filed() -> None:
    engine = ClusterEngine()
    first = engine.assign(MANHOLE[0])
    assert first.reason == "new" and first.cluster_id == MANHOLE[0].id
    for f in MANHOLE[1:]:
        assignment = engine.assign(f)
        assert assignment.reason == "similar"
        assert assignment.cluster_id == MANHOLE[0].id
    assert engine.cluster(MANHOLE[0].id).size == 5
    # Filing the same ticket again (a retry) changes nothing.
    again = engine.assign(MANHOLE[2])
    assert again.reason == "known" and again.size == 5


def test_coordinates_place_a_ticket_whose_address_cannot_be_read() -> None:
    lat, lon = 30.2500, 120.1600
    located = [
        fact("路灯不亮了，晚上一片黑", "", latitude=lat, longitude=lon, created_at=at(0)),
        fact(
            "这里路灯坏了晚上不亮",
            "",
            latitude=lat + 0.0004,
            longitude=lon + 0.0003,
            created_at=at(1),
        ),
        # 2 km away: another lamp.
        fact("路灯不亮了，晚上一片黑", "", latitude=lat + 0.018, longitude=lon, created_at=at(1)),
    ]
    engine = _rebuilt(located)
    assert engine.cluster_of(located[0].id) == engine.cluster_of(located[1].id)
    assert engine.cluster_of(located[2].id) != engine.cluster_of(located[0].id)


def test_different_problems_at_one_place_do_not_join() -> None:
    crossing = "解放路与中山街路口"
    lamp = fact(
        "路灯不亮，晚上一片黑", crossing, category="report.streetlight", created_at=at(0, 1)
    )
    dance = fact(
        "广场舞音响太吵，每天晚上震耳朵", "幸福家园", category="report.noise", created_at=at(0)
    )
    renovation = fact(
        "楼上装修电钻声太吵，周末一大早就开始",
        "幸福家园东门",
        category="report.noise",
        created_at=at(0, 3),
    )
    engine = _rebuilt([*MANHOLE, lamp, dance, renovation])
    manhole = engine.cluster_of(MANHOLE[0].id)
    # Another category at the same crossing, within the hour.
    assert engine.cluster_of(lamp.id) != manhole
    # The same category at the same estate, hours apart, in other words.
    assert engine.cluster_of(dance.id) != engine.cluster_of(renovation.id)


def test_the_same_words_at_another_place_or_after_the_window_do_not_join() -> None:
    here = fact("井盖丢了", "解放路与中山街路口", category="report.manhole", created_at=at(0))
    there = fact("井盖丢了", "解放路与和平路路口", category="report.manhole", created_at=at(0, 1))
    later = fact("井盖丢了", "解放路与中山街路口", category="report.manhole", created_at=at(60))
    engine = _rebuilt([here, there, later])
    assert len({engine.cluster_of(f.id) for f in (here, there, later)}) == 3


def test_related_categories_may_join_unrelated_never() -> None:
    # A burst main, filed as water supply by one resident and as drainage by another.
    burst = fact(
        "水管爆了，门口全是水", "幸福家园北门", category="report.water_supply", created_at=at(0)
    )
    flooded = fact(
        "门口水管爆了全是水", "幸福家园", category="report.drainage", created_at=at(0, 2)
    )
    lamp = fact(
        "门口水管爆了全是水", "幸福家园", category="report.streetlight", created_at=at(0, 3)
    )
    engine = _rebuilt([burst, flooded, lamp])
    assert engine.cluster_of(flooded.id) == engine.cluster_of(burst.id)
    assert engine.cluster_of(lamp.id) != engine.cluster_of(burst.id)


def test_building_level_problems_stay_with_their_building() -> None:
    lift3 = [
        fact(
            "电梯坏了不动了", f"幸福家园3号楼{u}单元", category="report.elevator", created_at=at(i)
        )
        for i, u in enumerate((1, 2, 1))
    ]
    lift7 = fact("电梯坏了不动了", "幸福家园7栋", category="report.elevator", created_at=at(1, 2))
    engine = _rebuilt([*lift3, lift7])
    assert len({engine.cluster_of(f.id) for f in lift3}) == 1
    assert engine.cluster_of(lift7.id) != engine.cluster_of(lift3[0].id)


def test_rebuild_is_deterministic_whatever_the_input_order() -> None:
    facts = [*MANHOLE] + [
        fact(f"路灯不亮{i}", loc, created_at=at(i % 5, i))
        for i, loc in enumerate(
            ["幸福家园", "幸福家园东门", "人民公园", "人民公园北门", "和平路12号"]
        )
    ]
    first = _rebuilt(facts).assignments()
    shuffled = facts[:]
    random.Random(3).shuffle(shuffled)
    assert _rebuilt(shuffled).assignments() == first


def test_merge_and_split_persist_through_a_rebuild() -> None:
    estate = "幸福家园"
    # Two wordings of one flooding, too different for the engine: staff merge them.
    a = fact("暴雨后积水到膝盖", estate, category="report.drainage", created_at=at(0))
    b = fact("下水道返水冒出来了", estate + "东门", category="report.drainage", created_at=at(9))
    # One cluster the engine made of two problems: staff split the second off.
    c = fact("垃圾桶满了没人清", "人民公园", category="report.garbage", created_at=at(0))
    d = fact("垃圾桶满了没人清运", "人民公园东门", category="report.garbage", created_at=at(0, 2))
    e = fact("垃圾桶坏了没人清", "人民公园北门", category="report.garbage", created_at=at(0, 4))
    facts = [a, b, c, d, e]
    engine = _rebuilt(facts)
    assert engine.cluster_of(a.id) != engine.cluster_of(b.id)
    assert engine.cluster_of(c.id) == engine.cluster_of(d.id) == engine.cluster_of(e.id)

    merged = engine.merge([engine.cluster_of(a.id), engine.cluster_of(b.id)], actor="staff1")  # type: ignore[list-item]
    assert set(merged.ticket_ids) == {a.id, b.id} and merged.id == a.id
    rest, moved = engine.split(engine.cluster_of(c.id), [e.id], actor="staff1")  # type: ignore[arg-type]
    assert set(rest.ticket_ids) == {c.id, d.id} and moved.ticket_ids == (e.id,)

    # The corrections are stored as JSON and read back, as the integration will.
    stored = json.dumps([c.to_dict() for c in engine.corrections])
    corrections = [Correction.from_dict(d) for d in json.loads(stored)]
    assert [c.kind for c in corrections] == ["merge", "split"]

    again = _rebuilt(facts, corrections)
    assert again.cluster_of(a.id) == again.cluster_of(b.id) == a.id
    assert again.cluster_of(c.id) == again.cluster_of(d.id)
    assert again.cluster_of(e.id) == e.id

    # A ticket filed later in e's words goes to e's cluster or a new one, never to c's.
    f = fact("垃圾桶坏了没人清", "人民公园", category="report.garbage", created_at=at(0, 6))
    assert again.assign(f).cluster_id != again.cluster_of(c.id)


def test_a_later_merge_undoes_an_earlier_split() -> None:
    x = fact("垃圾桶满了没人清", "人民公园", category="report.garbage", created_at=at(0))
    y = fact("垃圾桶满了没人清运", "人民公园东门", category="report.garbage", created_at=at(0, 1))
    corrections = [
        Correction("split", ((x.id,), (y.id,))),
        Correction("merge", ((x.id, y.id),)),
    ]
    engine = _rebuilt([x, y], corrections)
    assert engine.cluster_of(x.id) == engine.cluster_of(y.id)
    engine = _rebuilt([x, y], corrections[:1])
    assert engine.cluster_of(x.id) != engine.cluster_of(y.id)


def test_bad_corrections_and_unknown_clusters_are_refused_clearly() -> None:
    engine = _rebuilt(MANHOLE)
    with pytest.raises(UnknownCluster, match="no cluster nope"):
        engine.cluster("nope")
    with pytest.raises(InvalidCorrection, match="at least two clusters"):
        engine.merge([MANHOLE[0].id])
    with pytest.raises(InvalidCorrection, match="both sides"):
        engine.split(MANHOLE[0].id, [f.id for f in MANHOLE])
    with pytest.raises(InvalidCorrection, match="not in cluster"):
        engine.split(MANHOLE[0].id, ["t-other"])
    with pytest.raises(InvalidCorrection, match="in two groups"):
        Correction("split", (("a", "b"), ("b",)))
    with pytest.raises(InvalidCorrection, match="not a correction"):
        Correction.from_dict({"groups": []})
    # Nothing was changed by the refused corrections.
    assert engine.corrections == ()
    assert engine.cluster(MANHOLE[0].id).size == 5


def test_facts_are_validated() -> None:
    from datetime import datetime

    with pytest.raises(InvalidFact, match="timezone-aware"):
        fact(created_at=datetime(2026, 6, 1))
    with pytest.raises(InvalidFact, match="go together"):
        fact(latitude=30.0)
    with pytest.raises(InvalidFact, match="unknown rating"):
        fact(rating="great")


def test_similar_lists_clusters_without_assigning() -> None:
    engine = _rebuilt(MANHOLE)
    draft = fact("井盖没了", "解放路中山街路口", category="report.manhole", created_at=at(5))
    found = engine.similar(draft)
    assert found and found[0][0] == MANHOLE[0].id
    assert engine.cluster_of(draft.id) is None


def test_a_stricter_rule_keeps_weak_matches_apart() -> None:
    strict = ClusterEngine(ClusterRule(same_threshold=0.9, recency_bonus=0.0, bridge=False))
    strict.rebuild(MANHOLE)
    assert len({strict.cluster_of(f.id) for f in MANHOLE}) > 1
