"""Background chores: a round that hangs is abandoned and said, and the rounds go on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.periodic import run_every


async def test_a_round_past_its_limit_is_abandoned_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    rounds: list[str] = []

    async def chore() -> None:
        rounds.append("start")
        if len(rounds) == 1:
            await asyncio.Event().wait()  # a connection that never answers
        rounds.append("done")
        if rounds.count("done") == 2:
            stop.set()

    with caplog.at_level(logging.WARNING, logger="bot.periodic"):
        await asyncio.wait_for(run_every(0.01, stop, chore, "filing things", limit=0.1), 5)
    assert rounds[:2] == ["start", "start"]  # the first never finished
    assert rounds.count("done") >= 2
    assert any(
        "filing things took over 0.1 s" in r.getMessage() for r in caplog.records
    ), caplog.text


async def test_a_chores_own_timeout_is_a_failure_not_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    calls = 0

    async def chore() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            stop.set()
        raise TimeoutError("the server did not answer")

    with caplog.at_level(logging.WARNING, logger="bot.periodic"):
        await asyncio.wait_for(run_every(0.01, stop, chore, "writing things"), 5)
    assert calls >= 2  # the rounds went on
    failures = [r for r in caplog.records if r.getMessage() == "writing things failed"]
    assert failures and failures[0].exc_info is not None
    assert not any("took over" in r.getMessage() for r in caplog.records)
