"""三率 on a hand-made set of tickets match the values computed by hand, and the four
quadrants place departments where they belong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.analytics import quadrants, three_rates
from integrations.analytics.rates import category_difficulty
from policies.clusters import Quadrant, RatesRule
from tests.analytics.factories import T0, fact

H = timedelta(hours=1)
AS_OF = T0 + timedelta(days=30)


def handmade():  # type: ignore[no-untyped-def]
    a, b = "市政管理处", "排水管理处"
    return [
        # 1: signed in 2 h, finished in 48 h of 72, 满意.
        fact(
            department=a,
            signed_at=T0 + 2 * H,
            due_at=T0 + 72 * H,
            resolved_at=T0 + 48 * H,
            status="closed",
            rating="satisfied",
        ),
        # 2: signed late (30 h), finished late (100 h), 基本满意.
        fact(
            department=a,
            signed_at=T0 + 30 * H,
            due_at=T0 + 72 * H,
            resolved_at=T0 + 100 * H,
            status="closed",
            rating="basically_satisfied",
        ),
        # 3: signed in 5 h, finished, rated 不满意 and reopened; open past its deadline.
        fact(
            department=a,
            signed_at=T0 + 5 * H,
            due_at=T0 + 72 * H,
            resolved_at=T0 + 50 * H,
            status="reopened",
            reopened=1,
            rating="unsatisfied",
        ),
        # 4: filed 12 h before as_of, not signed yet: not judged on anything.
        fact(department=a, created_at=AS_OF - 12 * H, due_at=AS_OF + 60 * H),
        # 5: signed in 1 h, then rejected (not a government matter): judged on response only.
        fact(department=a, signed_at=T0 + 1 * H, due_at=T0 + 72 * H, status="rejected"),
        # 6: signed in 3 h, still in progress long past its deadline.
        fact(department=b, signed_at=T0 + 3 * H, due_at=T0 + 48 * H, status="in_progress"),
        # 7: signed in 3 h, finished in 24 h, 满意.
        fact(
            department=b,
            signed_at=T0 + 3 * H,
            due_at=T0 + 48 * H,
            resolved_at=T0 + 24 * H,
            status="closed",
            rating="satisfied",
        ),
    ]


def test_three_rates_per_department_match_hand_computed_values() -> None:
    rows = {r.group: r for r in three_rates(handmade(), by="department", as_of=AS_OF)}
    a, b = rows["市政管理处"], rows["排水管理处"]

    # 市政管理处: response 3 of 4 judged (1, 3, 5 in time; 2 late; 4 not yet due).
    assert (a.tickets, a.signed_in_time, a.sign_judged) == (5, 3, 4)
    assert a.response_rate == pytest.approx(0.75)
    # Resolution: 1 and 2 finished, 3 open past its deadline; 4 not due, 5 rejected.
    assert (a.resolved, a.resolve_judged) == (2, 3)
    assert a.resolution_rate == pytest.approx(2 / 3)
    # Satisfaction: 满意 1 + 基本满意 1 + 不满意 0 over 3 rated.
    assert (a.satisfaction_points, a.rated) == (2.0, 3)
    assert a.satisfaction_rate == pytest.approx(2 / 3)
    # 30 × 0.75 + 35 × 2/3 + 35 × 2/3 = 69.17
    assert a.score == pytest.approx(30 * 0.75 + 35 * 2 / 3 + 35 * 2 / 3)
    assert a.overdue == 2  # 2 finished late, 3 open past its deadline
    assert a.thin  # fewer than five tickets behind a rate

    assert (b.response_rate, b.resolution_rate, b.satisfaction_rate) == (1.0, 0.5, 1.0)
    assert b.score == pytest.approx(30 + 17.5 + 35)
    # Best score first.
    assert [r.group for r in three_rates(handmade(), as_of=AS_OF)] == ["排水管理处", "市政管理处"]


def test_all_tickets_together_and_a_period() -> None:
    (everyone,) = three_rates(handmade(), by="all", as_of=AS_OF)
    assert everyone.response_rate == pytest.approx(5 / 6)
    assert everyone.resolution_rate == pytest.approx(3 / 5)
    assert everyone.satisfaction_rate == pytest.approx(3 / 4)
    assert everyone.score == pytest.approx(30 * 5 / 6 + 35 * 3 / 5 + 35 * 3 / 4)
    # The period is the filing date: ticket 4 falls outside the first 29 days.
    (first,) = three_rates(handmade(), by="all", end=T0 + timedelta(days=29), as_of=AS_OF)
    assert first.tickets == 6


def test_judged_earlier_fewer_tickets_are_due() -> None:
    # Two hours after filing: only tickets 1 and 5 were signed; nothing is due or
    # finished, so nothing is rated either.
    (early,) = three_rates(handmade(), by="all", end=T0 + H, as_of=T0 + 2 * H)
    assert (early.signed_in_time, early.sign_judged) == (2, 2)
    assert early.resolve_judged == 0 and early.resolution_rate is None
    assert early.rated == 0 and early.score == pytest.approx(100.0)


def test_basically_satisfied_may_count_less() -> None:
    rule = RatesRule(basically_satisfied_weight=0.8)
    rows = {r.group: r for r in three_rates(handmade(), as_of=AS_OF, rule=rule)}
    assert rows["市政管理处"].satisfaction_rate == pytest.approx(1.8 / 3)


def test_unknown_grouping_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown grouping 'weather'"):
        three_rates(handmade(), by="weather", as_of=AS_OF)


def test_four_quadrants_by_volume_and_satisfaction() -> None:
    def dept(name: str, n: int, rating: str) -> list:  # type: ignore[type-arg]
        return [
            fact(
                department=name,
                signed_at=T0 + H,
                due_at=T0 + 72 * H,
                resolved_at=T0 + 24 * H,
                status="closed",
                rating=rating,
            )
            for _ in range(n)
        ]

    facts = (
        dept("甲", 10, "satisfied")
        + dept("乙", 2, "satisfied")
        + dept("丙", 2, "unsatisfied")
        + dept("丁", 10, "unsatisfied")
        + [fact(department="戊")]
    )  # nothing rated yet
    chart = quadrants(facts, x="volume", as_of=AS_OF)
    placed = {p.group: p.quadrant for p in chart.points}
    assert placed == {
        "甲": Quadrant.LEADING,
        "乙": Quadrant.STEADY,
        "丙": Quadrant.IMPROVE,
        "丁": Quadrant.FOCUS,
    }
    assert chart.x_split == 6.0 and chart.y_split == 0.5
    assert chart.unplaced == ("戊",)


def test_difficulty_reflects_the_mix_of_problems_not_the_handling() -> None:
    hard = [
        fact(
            category="report.illegal_construction",
            department="执法",
            due_at=T0 + 72 * H,
            status="in_progress",
        )
        for _ in range(4)
    ]
    easy = [
        fact(
            category="report.streetlight",
            department="照明",
            due_at=T0 + 72 * H,
            resolved_at=T0 + H,
            status="closed",
            rating="satisfied",
        )
        for _ in range(4)
    ]
    assert category_difficulty(hard + easy, AS_OF) == {
        "report.illegal_construction": 1.0,
        "report.streetlight": 0.0,
    }
    chart = quadrants(hard + easy, x="difficulty", y="score", as_of=AS_OF)
    xs = {p.group: p.x for p in chart.points}
    assert xs == {"执法": 1.0, "照明": 0.0}
