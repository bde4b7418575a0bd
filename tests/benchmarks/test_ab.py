"""The old-against-new runner: the order of turns, the arguments, and the paired verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.ab import FIGURES, compare, load_args, report, turns


def test_turns_alternate_so_a_steady_drift_favours_neither_side() -> None:
    assert turns(3) == ["A", "B", "B", "A", "A", "B"]


def test_both_trees_share_the_model_and_the_script_owns_runs_and_json(tmp_path: Path) -> None:
    args = load_args(["--mix", "faq", "--model-dir", ".bench/models"], root=tmp_path)
    assert args == ["--mix", "faq", "--model-dir", str(tmp_path / ".bench" / "models")]
    assert load_args(["--model-dir=m"], root=tmp_path) == [f"--model-dir={tmp_path / 'm'}"]
    for own in ("--runs", "--json=x.json", "--profile"):
        with pytest.raises(ValueError, match=r"set by ab\.py"):
            load_args(["--mix", "faq", own], root=tmp_path)


def _run(cpu: float, rate: float, p99: float) -> dict[str, object]:
    return {
        "system": "embedded",
        "processes": 1,
        "cpu_ms_per_message": cpu,
        "msg_per_s": rate,
        "latency_ms": {"p99": p99},
    }


def test_pairs_are_compared_one_by_one_not_median_against_median() -> None:
    cpu, rate, _p99, _worker = FIGURES
    # The host slowed down during the runs: every new run is better than the old run
    # next to it, though the new median is not below every old run.
    old = [_run(2.0, 100, 10), _run(2.4, 100, 10), _run(2.8, 100, 10)]
    new = [_run(1.9, 101, 10), _run(2.3, 100, 10), _run(2.7, 99, 10)]
    result = compare(old, new, cpu)
    assert result["new_better"] == 3 and result["pairs"] == 3
    assert result["median_difference"] == pytest.approx(-0.1)
    assert compare(old, new, rate)["new_better"] == 1
    text = report(old, new, ("aaa", "bbb"))
    assert "new better in all 3 pairs" in text
    assert "new better in 1, worse in 1 of 3 pairs: not resolved" in text
