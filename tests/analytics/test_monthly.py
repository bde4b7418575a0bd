"""每月一题: the month's problem classes ranked from hand-checked counts, and the Markdown,
CSV and PNG exports."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from integrations.analytics import chart_png, month_bounds, monthly_ranking, to_csv, to_markdown
from tests.analytics.factories import CST, fact

JULY = datetime(2026, 7, 1, tzinfo=CST)
D = timedelta(days=1)


def july():  # type: ignore[no-untyped-def]
    flood = dict(category="report.drainage", street="望江街道", location="解放路与中山街路口")
    noise = dict(category="report.noise", street="临江街道", location="幸福家园")
    garbage = dict(category="report.garbage", street="临江街道", location="人民公园")
    return [
        # June: the flooding was first reported then (same cluster "c-flood").
        fact("积水", id="f0", openid="p0", created_at=JULY - 5 * D, **flood),
        fact(
            "积水",
            id="f1",
            openid="p1",
            created_at=JULY + 1 * D,
            due_at=JULY + 2 * D,
            resolved_at=JULY + 4 * D,
            status="closed",
            rating="satisfied",
            **flood,
        ),
        fact(
            "积水",
            id="f2",
            openid="p2",
            created_at=JULY + 2 * D,
            due_at=JULY + 4 * D,
            status="in_progress",
            **flood,
        ),
        fact("积水", id="f3", openid="p1", created_at=JULY + 3 * D, **flood),
        fact(
            "积水",
            id="f4",
            openid="p3",
            created_at=JULY + 4 * D,
            reopened=1,
            rating="unsatisfied",
            status="reopened",
            **flood,
        ),
        fact("积水", id="f5", openid="p4", created_at=JULY + 5 * D, **flood),
        fact("广场舞", id="n1", openid="q1", created_at=JULY + 1 * D, **noise),
        fact("广场舞", id="n2", openid="q2", created_at=JULY + 2 * D, **noise),
        fact("广场舞", id="n3", openid="q3", created_at=JULY + 3 * D, **noise),
        fact("垃圾", id="g1", openid="r1", created_at=JULY + 1 * D, **garbage),
        fact("垃圾", id="g2", openid="r2", created_at=JULY + 2 * D, **garbage),
        # August: not this month.
        fact("积水", id="f9", openid="p9", created_at=JULY + 40 * D, **flood),
    ]


CLUSTERS = {
    "f0": "c-flood",
    **{f"f{i}": "c-flood" for i in range(1, 6)},
    "n1": "n1",
    "n2": "n1",
    "n3": "n3",
    "g1": "g1",
    "g2": "g2",
}


def test_ranking_counts_match_hand_computed_values() -> None:
    rows = monthly_ranking(july(), "2026-07", cluster_of=CLUSTERS, as_of=JULY + 31 * D)
    assert [(r.rank, r.area, r.category) for r in rows] == [
        (1, "望江街道", "report.drainage"),
        (2, "临江街道", "report.noise"),
    ]  # the garbage class has two tickets: under the threshold of three
    flood, noise = rows
    # 5 tickets from 4 residents (p1 twice); all 5 repeat the June report's cluster; f2
    # is open past its deadline and f1 finished two days late; f4 reopened, 不满意.
    assert flood.values() == {
        "tickets": 5,
        "residents": 4,
        "repeats": 5,
        "overdue": 2,
        "reopened": 1,
        "dissatisfied": 1,
    }
    assert flood.score == 100.0 and flood.label == "下水道堵塞"
    # Noise: 3 tickets, 3 residents, n2 joined n1's cluster.
    assert noise.values() == {
        "tickets": 3,
        "residents": 3,
        "repeats": 1,
        "overdue": 0,
        "reopened": 0,
        "dissatisfied": 0,
    }
    # 30 × 3/5 + 20 × 3/4 + 15 × 1/5 = 36
    assert noise.score == pytest.approx(36.0)


def test_without_clusters_a_repeat_is_a_resident_reporting_the_same_again() -> None:
    rows = monthly_ranking(july(), "2026-07")
    flood = rows[0]
    assert flood.repeats == 1  # p1's second report


def test_month_bounds_are_local_time() -> None:
    assert month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=CST),
        datetime(2027, 1, 1, tzinfo=CST),
    )
    with pytest.raises(ValueError, match="write it as 2026-07"):
        month_bounds("July")


def test_markdown_csv_and_chart(tmp_path: Path) -> None:
    rows = monthly_ranking(july(), "2026-07", cluster_of=CLUSTERS)
    md = to_markdown(rows, title="2026年7月 每月一题候选")
    assert md.startswith("## 2026年7月 每月一题候选")
    assert "| 1 | 望江街道 | 下水道堵塞 | 5 | 4 | 5 |" in md

    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [r["类别编号"] for r in table] == ["report.drainage", "report.noise"]
    assert table[1]["诉求量"] == "3" and table[1]["得分"] == "36.0"

    png = chart_png(rows, tmp_path / "monthly.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_an_empty_month_still_exports() -> None:
    rows = monthly_ranking(july(), "2026-03")
    assert rows == []
    assert "本月没有达到门槛的问题类别" in to_markdown(rows)
    assert to_csv(rows).count("\n") == 1  # the header only
