"""Smoke test of benchmarks/bench_http_calls.py: both HTTP layers push to the fake WeChat
API and file with and poll the fake Open311 server, each served in a process of its own
(``send_text`` raises unless it answered errcode 0, ``poll`` asserts it found the request),
and each call gets its own figures."""

from __future__ import annotations

from benchmarks.bench_http_calls import CALLS, GAPS, LAYERS, fake_servers, measure


async def test_both_layers_call_the_fakes_and_are_timed() -> None:
    with fake_servers() as urls:
        figures = await measure(urls, 5, reverse=False)
    assert sorted(figures) == sorted(
        f"{call}_{layer}_{gap}" for call in CALLS for layer in LAYERS for gap in GAPS
    )
    assert all(value > 0 for value in figures.values())
