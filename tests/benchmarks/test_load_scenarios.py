"""Smoke test of the conversation load generator (benchmarks/load_conversations.py): its
scripts hold against the real app, retries are answered identically, and the accounting
counts tickets, duplicates and losses the way the README figures rely on."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import redis

from benchmarks.load_conversations import (
    LoadStats,
    make_residents,
    percentile,
    play,
    processed_twice,
    run_directory,
    summarize,
    ticket_accounting,
    tickets_by_resident,
)
from benchmarks.loadclient import Connection
from benchmarks.scenarios import KINDS, MIXES, Step, assign_kinds, build_scenario, check_reply
from tests.bot.wechat_harness import running_app


async def test_mixed_conversations_against_the_app_are_played_and_accounted(
    tmp_path: Path,
) -> None:
    residents = make_residents("o-smoke-", 40, MIXES["mixed"], seed=3)
    with running_app(tmp_path) as app:
        url = app.url + "/wechat"
        connections = [Connection(url) for _ in range(8)]
        stats = await play(
            url,
            app.signer,
            residents,
            connections=connections,
            retry_share=0.3,
            fake=app.fake,
            seed=3,
        )
        for conn in connections:
            await conn.close()
        tickets = tickets_by_resident(app.settings.effective_database_url, "o-smoke-")
    summary = summarize(stats, tickets, None)

    assert summary["unexpected_replies"] == 0, summary["unexpected_samples"]
    assert summary["errors"]["non_200"] == summary["errors"]["transport"] == 0
    assert summary["residents_finished"] == 40
    assert summary["kinds"] == {"faq": 16, "complaint": 14, "status": 6, "chitchat": 4}
    assert stats.messages == sum(len(s.steps) for _, s in residents)
    retries = summary["retries"]
    assert retries["inflight"] > 0 and retries["after"] > 0
    assert retries["identical"] == retries["sent"], retries["samples"]
    assert stats.requests == stats.messages + retries["sent"] == len(stats.latencies)
    complainers = {openid for openid, s in residents if s.kind == "complaint"}
    assert set(tickets) == complainers
    assert summary["tickets"] == {
        "expected": 14,
        "confirmations_answered": 14,
        "replied_with_number": 14,
        "created": 14,
        "duplicates": 0,
        "residents_with_duplicates": 0,
        "lost": 0,
        "replied_numbers_not_in_db": 0,
    }
    assert summary["over_5s"] == 0
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]


async def test_late_replies_are_counted_and_read_from_the_push(tmp_path: Path) -> None:
    """With a reply deadline too short to answer passively, the app answers "success" and
    pushes the reply: the generator counts it as late and checks the pushed text."""
    residents = make_residents("o-late-", 12, MIXES["mixed"], seed=4)
    with running_app(tmp_path, INTAKE_REPLY_DEADLINE=0.001) as app:
        url = app.url + "/wechat"
        connections = [Connection(url) for _ in range(4)]
        stats = await play(
            url, app.signer, residents, connections=connections, retry_share=0, fake=app.fake
        )
        for conn in connections:
            await conn.close()
        tickets = tickets_by_resident(app.settings.effective_database_url, "o-late-")
    summary = summarize(stats, tickets, None)
    assert summary["late_pushed"] > 0
    assert summary["unexpected_replies"] == 0, summary["unexpected_samples"]
    assert summary["residents_finished"] == 12
    assert summary["tickets"]["expected"] == summary["tickets"]["created"] > 0
    assert summary["tickets"]["lost"] == summary["tickets"]["duplicates"] == 0


def test_ticket_accounting_finds_doubled_lost_and_stray_tickets() -> None:
    stats = LoadStats()
    stats.confirmations = {"o-a": True, "o-b": True, "o-c": False, "o-d": True}
    stats.replied_tickets = {"o-a": "20250101-0001", "o-d": "20250101-0009"}
    tickets = {
        "o-a": ["20250101-0001", "20250101-0002"],  # doubled
        # o-b confirmed and was answered, but has no ticket: lost
        # o-c's confirmation timed out: no ticket is acceptable
        "o-d": ["20250101-0004"],  # the number in the reply is not in the database
        "o-e": ["20250101-0003"],  # never confirmed
    }
    figures = ticket_accounting(stats, tickets)
    assert figures["expected"] == 4
    assert figures["confirmations_answered"] == 3
    assert figures["created"] == 4
    assert figures["duplicates"] == 2
    assert figures["residents_with_duplicates"] == 2
    assert figures["lost"] == 1
    assert figures["replied_numbers_not_in_db"] == 1


def test_mixes_are_exact_and_scripts_never_repeat_a_line() -> None:
    rng = random.Random(5)
    kinds = assign_kinds(1000, MIXES["mixed"], rng)
    assert {k: kinds.count(k) for k in KINDS} == {
        "faq": 400,
        "complaint": 350,
        "status": 150,
        "chitchat": 100,
    }
    assert assign_kinds(7, MIXES["faq"], rng) == ["faq"] * 7
    for n in range(300):
        for kind in KINDS:
            scenario = build_scenario(kind, rng, n)
            lines = [step.content for step in scenario.steps]
            # A line twice in a resident's chat log must mean a message processed twice.
            assert len(lines) == len(set(lines)), scenario
            if kind == "complaint":
                assert 2 <= len(scenario.steps) <= 5 and scenario.files_ticket
                assert sum(step.files_ticket for step in scenario.steps) == 1


def test_replies_are_checked_against_the_script() -> None:
    confirm = Step("text", "确认", files_ticket=True)
    assert check_reply(confirm, "已为您登记，工单号：20250101-0001。", None) is None
    assert check_reply(confirm, "好的", None) == "no ticket number"
    asked = Step("text", "路灯坏了", ("什么位置",))
    assert check_reply(asked, "请问在什么位置？", None) is None
    assert check_reply(asked, None, None) == "no reply"
    assert check_reply(asked, "您好", None) is not None
    status = Step("text", "我反映的问题怎么样了", names_own_ticket=True)
    assert check_reply(status, "20250101-0001（路灯）：已受理", "20250101-0001") is None
    assert check_reply(status, "没有正在办理的工单", "20250101-0001") is not None
    assert percentile([0.3, 0.1, 0.2, 0.4], 50) == 0.2
    assert percentile([0.3, 0.1, 0.2, 0.4], 100) == 0.4


def test_processed_twice_reads_the_chat_log(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        once = [{"role": "resident", "text": "路灯坏了"}, {"role": "bot", "text": "在哪里？"}]
        twice = [*once, {"role": "resident", "text": "路灯坏了"}, {"role": "bot", "text": "x"}]
        client.set("intake-test:chat:o-1", json.dumps(once, ensure_ascii=False))
        client.set("intake-test:chat:o-2", json.dumps(twice, ensure_ascii=False))
        assert processed_twice(redis_url, ["o-1", "o-2", "o-3"], namespace="intake-test") == 1
    finally:
        client.flushdb()
        client.close()


async def test_connection_reconnects_when_the_server_dropped_an_idle_connection() -> None:
    served = 0

    async def answer_once_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # like uvicorn closing a keep-alive connection that went idle

    server = await asyncio.start_server(answer_once_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = Connection(f"http://127.0.0.1:{port}/wechat")
    try:
        assert await conn.post({}, b"") == (200, b"ok")
        await asyncio.sleep(0.05)
        assert await conn.post({}, b"") == (200, b"ok")
        assert served == 2
    finally:
        await conn.close()
        server.close()
        await server.wait_closed()


def test_every_run_gets_a_fresh_data_directory(tmp_path: Path) -> None:
    # The embedded system's SQLite file lives there: a run must not start on the tickets of
    # the run before it.
    first = run_directory(tmp_path, "embedded", 1)
    (first / "intake.db").write_bytes(b"tickets of run 1")
    second = run_directory(tmp_path, "embedded", 1)
    assert second != first and list(second.iterdir()) == []
