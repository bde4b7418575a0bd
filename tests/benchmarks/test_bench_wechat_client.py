"""Smoke test of benchmarks/bench_wechat_client.py: both HTTP layers push to the fake
WeChat API served in a process of its own (``send_text`` raises unless it answered
errcode 0), and each gets its own figures."""

from __future__ import annotations

from benchmarks.bench_wechat_client import LAYERS, fake_wechat, measure


async def test_both_layers_push_to_the_fake_and_are_timed() -> None:
    with fake_wechat() as base_url:
        figures = await measure(base_url, 5, reverse=False)
    for layer in LAYERS:
        assert figures[f"{layer}_back_to_back"] > 0 and figures[f"{layer}_gap_10ms"] > 0
    assert figures["ratio_back_to_back"] > 0 and figures["ratio_gap_10ms"] > 0
