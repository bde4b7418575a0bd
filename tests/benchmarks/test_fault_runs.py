"""The fault-run harness (benchmarks/fault_runs.py): its ticket accounting, what it takes
for a holding reply, the PostgreSQL proxy's outage and the load balancer's failover."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest

from benchmarks.fault_runs import (
    FailoverConnection,
    PgProxy,
    asks_to_send_again,
    check_allowing_holding,
    fault_tickets,
    is_holding_reply,
)
from benchmarks.load_conversations import LoadStats
from benchmarks.scenarios import Step
from bot.middlewares.errors import ERROR_REPLY
from policies import messages

FILED = "已为您登记，工单号：20250101-0001。"


def test_holding_replies_are_told_from_errors_and_retry_requests() -> None:
    assert is_holding_reply(messages.ticket_deferred())
    assert not is_holding_reply(messages.ticket_failed())
    assert not is_holding_reply(ERROR_REPLY)
    assert not is_holding_reply(FILED)
    assert asks_to_send_again(messages.STATE_UNAVAILABLE)
    assert asks_to_send_again(ERROR_REPLY)
    assert not asks_to_send_again(messages.ticket_deferred())
    confirm = Step("text", "确认", files_ticket=True)
    assert check_allowing_holding(confirm, messages.ticket_deferred(), None) is None
    assert check_allowing_holding(confirm, ERROR_REPLY, None) == "no ticket number"
    status = Step("text", "我的工单办得怎么样了", names_own_ticket=True)
    assert check_allowing_holding(status, "没有正在办理的工单", None) is None
    assert check_allowing_holding(status, "没有正在办理的工单", "20250101-0001") is not None


def test_fault_accounting_counts_lost_doubled_held_and_untold() -> None:
    stats = LoadStats()
    stats.confirmations = {f"o-{c}": True for c in "abcdefg"} | {"o-h": False}
    stats.confirmation_replies = {
        "o-a": FILED,  # filed once: fine
        "o-b": "已为您登记，工单号：20250101-0002。",  # two rows: doubled
        "o-c": "已为您登记，工单号：20250101-0003。",  # no row: lost
        "o-d": messages.ticket_deferred(),  # held, filed later, number pushed
        "o-e": messages.ticket_deferred(),  # held, never filed: lost
        "o-f": "您好！请问有什么可以帮您？",  # conversation restarted: not expected
        "o-g": "已为您登记，工单号：20250101-0007。",  # told a number it does not have
    }
    tickets = {
        "o-a": ["20250101-0001"],
        "o-b": ["20250101-0002", "20250101-0005"],
        "o-d": ["20250101-0004"],
        "o-g": ["20250101-0008"],
        "o-h": ["20250101-0006"],  # unanswered confirmation that filed: fine
        "o-x": ["20250101-0009"],  # never confirmed: stray
    }
    figures = fault_tickets(
        stats, tickets, holding_ok=True, pushed_numbers={"o-d": ["20250101-0004"]}
    )
    assert figures["expected"] == 6
    assert (figures["with_number"], figures["holding"]) == (4, 2)
    assert figures["created"] == 7
    assert figures["lost"] == 3
    assert (figures["lost_no_ticket"], figures["lost_wrong_number"]) == (2, 1)
    assert figures["doubled"] == 2
    assert (figures["doubled_per_resident"], figures["stray"]) == (1, 1)
    assert (figures["answered_without_ticket"], figures["unanswered_but_filed"]) == (1, 1)
    assert (figures["holding_filed_later"], figures["holding_number_pushed"]) == (1, 1)
    # Without holding replies allowed, o-d and o-e were simply not told of a ticket.
    plain = fault_tickets(stats, tickets, holding_ok=False)
    assert (plain["expected"], plain["lost"], plain["answered_without_ticket"]) == (4, 2, 3)


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_pg_proxy_refuses_cuts_and_lets_through_again() -> None:
    server, port = await _echo_server()
    proxy = PgProxy("127.0.0.1", port)
    proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        await asyncio.to_thread(proxy.refuse)
        assert await reader.read(10) == b""  # the open connection was cut
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.to_thread(proxy.allow)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"pong")
        assert await reader.readexactly(4) == b"pong"
        writer.close()
        assert proxy.cut == 2 and proxy.accepted == 2
    finally:
        await asyncio.to_thread(proxy.close)
        server.close()
        await server.wait_closed()


async def test_failover_sends_the_same_request_to_the_other_process() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        seen.append(head.split(b" ")[1] + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    live = server.sockets[0].getsockname()[1]
    with socket.socket() as sock:  # a port nobody listens on: the killed process
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    failovers: Counter[str] = Counter()
    inflight: Counter[int] = Counter()
    conn = FailoverConnection(
        [f"http://127.0.0.1:{dead}/wechat", f"http://127.0.0.1:{live}/wechat"], failovers, inflight
    )
    try:
        for n in range(2):  # first the dead one's turn, then the live one's
            assert await conn.post({"msg": str(n)}, b"<xml/>") == (200, b"ok")
    finally:
        await conn.close()
        server.close()
        await server.wait_closed()
    assert seen == [b"/wechat?msg=0<xml/>", b"/wechat?msg=1<xml/>"]
    assert failovers == {"ConnectionRefusedError": 1}
    assert sum(inflight.values()) == 0
