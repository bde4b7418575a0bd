"""未诉先办: a surge alert fires on a planted surge and not on steady traffic; a hot spot
needs three distinct residents; every alert says where, how many and why."""

from __future__ import annotations

import random
from datetime import timedelta

from integrations.analytics import ClusterEngine, TicketFact, hotspots, surge_alerts, surge_table
from policies.clusters import SurgeRule
from tests.analytics.factories import at, fact

STREETS = [
    f"{name}街道" for name in ("望江", "临江", "朝阳", "东湖", "西湖", "南湖", "长安", "永安")
]
CATEGORIES = ("report.drainage", "report.garbage", "report.noise", "report.parking")
AS_OF = at(84)  # twelve weeks of history before it


def steady_traffic(seed: int = 1) -> list[TicketFact]:
    """Twelve weeks of ordinary tickets: each street × category at its own steady rate
    (Poisson arrivals, 1–6 a week), from many residents at many places."""
    rng = random.Random(seed)
    facts = []
    for street in STREETS:
        for category in CATEGORIES:
            per_day = rng.uniform(1, 6) / 7
            t = 0.0
            while True:
                t += rng.expovariate(per_day)
                if t >= 84:
                    break
                facts.append(
                    fact(
                        "垃圾满了没人清" if category == "report.garbage" else "有问题请处理",
                        f"{rng.choice('东西南北')}{rng.randint(1, 400)}号",
                        category=category,
                        street=street,
                        community=street[:2] + "一社区",
                        created_at=at(t),
                    )
                )
    return facts


def planted_surge() -> list[TicketFact]:
    """A rainstorm: 14 residents report the flooded crossing in three days."""
    words = ["下雨积水严重", "路口积水到膝盖", "积水太深车都过不去", "暴雨后积水一直不退"]
    return [
        fact(
            words[i % 4],
            "解放路与中山街路口" if i % 2 else "中山街解放路口",
            category="report.drainage",
            street="望江街道",
            community="望江一社区",
            created_at=AS_OF - timedelta(days=3) + timedelta(hours=5 * i),
        )
        for i in range(14)
    ]


def test_no_surge_alert_on_steady_traffic() -> None:
    facts = steady_traffic()
    assert len(facts) > 500
    for day in range(14):  # checked every day of the last two weeks, as the job would
        assert surge_alerts(facts, AS_OF - timedelta(days=day)) == []
    # The table shows what was tested and why nothing fired.
    table = surge_table(facts, AS_OF)
    assert len(table) == len(STREETS) * len(CATEGORIES)
    assert not any(v.fired for v in table.values())


def test_no_verdict_without_enough_history() -> None:
    # Three weeks after the first ticket: a baseline of two weeks is no baseline.
    facts = [
        f for f in steady_traffic() + planted_surge() if f.created_at >= AS_OF - timedelta(days=21)
    ]
    assert surge_alerts(facts, AS_OF) == []
    verdicts = surge_table(facts, AS_OF)
    assert all("history" in v.failed for v in verdicts.values())


def test_a_planted_surge_fires_one_alert_that_names_cluster_area_counts_and_reason() -> None:
    background = steady_traffic()
    surge = planted_surge()
    facts = background + surge
    engine = ClusterEngine()
    engine.rebuild(facts)

    alerts = surge_alerts(facts, AS_OF, cluster_of=engine.cluster_of)
    assert [(a.area, a.category) for a in alerts] == [("望江街道", "report.drainage")]
    alert = alerts[0]
    before = [f for f in background if f.street == "望江街道" and f.category == "report.drainage"]
    in_window = [f for f in before if AS_OF - timedelta(days=7) <= f.created_at <= AS_OF]
    assert alert.count == len(in_window) + 14
    assert alert.residents == alert.count  # every ticket from its own resident here
    assert alert.ratio >= 2 and alert.p_value < SurgeRule().alpha
    # The flooded crossing is the cluster behind it.
    assert alert.clusters[0] == (engine.cluster_of(surge[0].id), 14)
    assert "望江街道" in alert.why and f"{alert.count}件" in alert.why and "泊松检验" in alert.why
    assert alert.key.startswith("surge:street:望江街道:report.drainage:")


def test_a_surge_from_two_residents_does_not_fire() -> None:
    # Two neighbours keep reporting their lift: a dozen tickets, but not a surge.
    surge = [
        fact(
            "电梯坏了",
            "幸福家园3号楼",
            category="report.elevator",
            street="望江街道",
            openid=("a", "b")[i % 2],
            created_at=AS_OF - timedelta(hours=6 * i),
        )
        for i in range(12)
    ]
    facts = steady_traffic() + surge
    assert surge_alerts(facts, AS_OF) == []
    assert surge_table(facts, AS_OF)[("望江街道", "report.elevator")].failed == ("residents",)


def test_a_hot_spot_needs_three_distinct_residents() -> None:
    two = [
        fact(
            "广场舞太吵",
            "幸福家园",
            category="report.noise",
            openid=("a", "b")[i % 2],
            created_at=AS_OF - timedelta(days=i),
        )
        for i in range(6)
    ]
    three = [
        fact(
            "井盖丢了",
            "解放路与中山街路口",
            category="report.manhole",
            openid=r,
            created_at=AS_OF - timedelta(hours=h),
            reopened=1 if r == "z" else 0,
            rating="unsatisfied" if r == "z" else None,
        )
        for r, h in (("x", 30), ("y", 20), ("z", 10))
    ]
    facts = two + three
    engine = ClusterEngine()
    engine.rebuild(facts)
    by_id = {f.id: f for f in facts}
    assert engine.cluster(engine.cluster_of(two[0].id)).size == 6  # type: ignore[arg-type]

    hot = hotspots(engine.clusters(min_size=3), by_id, AS_OF)
    assert [h.cluster_id for h in hot] == [three[0].id]
    spot = hot[0]
    assert (spot.tickets, spot.residents, spot.reopened, spot.unsatisfied) == (3, 3, 1, 1)
    assert spot.score > 3  # three recent residents plus the reopening and the 不满意
    assert spot.place and spot.street == "望江街道"
    assert "3位居民反映3次" in spot.why and "重新办理1次" in spot.why and "不满意1次" in spot.why

    # A month later the same cluster has cooled down.
    assert hotspots(engine.clusters(min_size=3), by_id, AS_OF + timedelta(days=30)) == []
