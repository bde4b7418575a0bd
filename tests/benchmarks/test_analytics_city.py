"""Smoke test of the synthetic city (benchmarks/city.py) and the analytics benchmark
(benchmarks/analytics_city.py): deterministic, realistic in the ways the figures rely on,
and the pairwise F1 counts pairs the way the README says."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.analytics_city import baseline, main, pairwise
from benchmarks.city import generate_year
from integrations.analytics.text import normalized_location
from policies.place_key import place_key


def test_pairwise_f1_counts_pairs() -> None:
    truth = {"a": "x", "b": "x", "c": "x", "d": "y"}
    assert pairwise(truth, truth) == (1.0, 1.0, 1.0)
    # Predicted {a,b} {c} {d}: one true pair of three found, no false pair.
    p, r, f = pairwise({"a": "1", "b": "1", "c": "2", "d": "3"}, truth)
    assert (p, r) == (1.0, pytest.approx(1 / 3)) and f == pytest.approx(0.5)
    # Everything together: 3 of 6 pairs right.
    p, r, _ = pairwise(dict.fromkeys(truth, "all"), truth)
    assert (p, r) == (0.5, 1.0)


def test_the_year_is_deterministic_and_planted_as_described() -> None:
    year = generate_year(seed=11, tickets=3000)
    again = generate_year(seed=11, tickets=3000)
    assert [f.description for f in year.facts] == [f.description for f in again.facts]
    assert len(year.facts) == 3000
    sizes = Counter(year.truth.values())
    planted = {c: n for c, n in sizes.items() if c.startswith("c")}
    assert planted and min(planted.values()) >= 3 and max(planted.values()) <= 40
    assert sum(planted.values()) == pytest.approx(0.35 * 3000, rel=0.1)
    assert all(n == 1 for c, n in sizes.items() if not c.startswith("c"))
    # Residents write one planted place in several ways.
    biggest = max(planted, key=planted.__getitem__)
    members = [f for f in year.facts if year.truth[f.id] == biggest]
    assert len({f.location for f in members}) >= min(3, len(members))
    assert len({f.description for f in members}) >= min(3, len(members))
    keys = {place_key(normalized_location(f.location)).keys for f in members}
    assert len(keys - {()}) == 1  # …and all of them read as one place (or as vague)
    # Time order, storms in summer, and coordinates on about a quarter of the tickets.
    assert [f.created_at for f in year.facts] == sorted(f.created_at for f in year.facts)
    assert all(d.month in (6, 7, 8) for d in year.storms)
    with_point = sum(1 for f in year.facts if f.latitude is not None)
    assert 0.15 < with_point / len(year.facts) < 0.35


def test_the_baseline_joins_only_identical_location_strings() -> None:
    year = generate_year(seed=5, tickets=2000)
    groups = Counter(baseline(year.facts).values())
    assert max(groups.values()) > 1
    assert pairwise(baseline(year.facts), year.truth)[1] < 0.5  # wordings vary


def test_the_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--tickets", "3000", "--runs", "1", "--assign", "100", "--seed", "3"])
    out = capsys.readouterr().out
    for needle in (
        "load average before",
        "pairwise F1",
        "full rebuild",
        "p99",
        "baseline",
        "surge alerts over the year",
        "load average after",
        "commit",
    ):
        assert needle in out
