"""Smoke test of benchmarks/bench_idle_gap.py: it parses the load benchmark's resident
messages and times only the calls, never the sleep before them."""

from __future__ import annotations

import time

from benchmarks.bench_idle_gap import cpu_ms_per_call, resident_texts


def test_the_texts_are_the_mixed_conversations_messages() -> None:
    texts = resident_texts(40)
    assert texts and all(isinstance(t, str) and t for t in texts)
    assert len(set(texts)) > 10  # FAQ questions, complaints, status questions, chit-chat
    assert resident_texts(40) == texts  # the same seed, the same messages


def test_only_the_calls_are_timed() -> None:
    def spin(_text: str) -> None:
        until = time.process_time() + 0.002
        while time.process_time() < until:
            pass

    # 2 ms of CPU a call, each after 20 ms of sleep: the sleep is not counted
    cost = cpu_ms_per_call(spin, ["a"] * 5, gap=0.02)
    assert 2.0 <= cost < 10.0
    # nothing but the calls' own CPU, with or without a sleep before them
    assert cpu_ms_per_call(lambda _t: None, ["a"] * 20, gap=0.01) < 1.0
