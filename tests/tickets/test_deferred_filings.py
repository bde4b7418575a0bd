"""The queue of complaints kept while the database was down (memory and real Redis)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from core.errors import DatabaseUnavailable
from integrations.state import KeyValueStore
from integrations.tickets.deferred import DeferredFilings
from integrations.tickets.model import Ticket


def _filing(key: str) -> dict[str, Any]:
    return {"source_key": key, "openid": "o-1", "description": "路灯坏了", "phone": ""}


class _Filer:
    """Files into a dict by ``source_key`` (filing twice returns the first ticket)."""

    def __init__(self) -> None:
        self.down = False
        self.tickets: dict[str, Ticket] = {}

    async def file(self, filing: dict[str, Any]) -> Ticket:
        if self.down:
            raise DatabaseUnavailable("the database cannot be reached (OperationalError)")
        key = filing["source_key"]
        if key not in self.tickets:
            # The queue reads a ticket's id only (and hands the ticket to ``announce``).
            self.tickets[key] = cast(Ticket, SimpleNamespace(id=f"T{len(self.tickets) + 1}"))
        return self.tickets[key]


async def test_a_round_that_meets_the_outage_says_so_and_keeps_the_queue(
    kv_store: KeyValueStore, caplog: pytest.LogCaptureFixture
) -> None:
    queue, filer = DeferredFilings(kv_store), _Filer()
    await queue.add(_filing("m-1"))
    filer.down = True
    announced: list[str] = []

    async def announce(filing: dict[str, Any], ticket: Ticket) -> None:
        announced.append(ticket.id)

    with caplog.at_level(logging.WARNING, logger="integrations.tickets.deferred"):
        assert await queue.drain(filer.file, announce) == 0
    assert await queue.pending() == 1
    assert any("deferred complaints wait (1)" in r.getMessage() for r in caplog.records)

    filer.down = False
    assert await queue.drain(filer.file, announce) == 1
    assert announced == ["T1"] and await queue.pending() == 0


async def test_a_round_abandoned_while_announcing_does_not_announce_again(
    kv_store: KeyValueStore,
) -> None:
    queue, filer = DeferredFilings(kv_store), _Filer()
    await queue.add(_filing("m-1"))
    announced: list[str] = []

    async def stuck(filing: dict[str, Any], ticket: Ticket) -> None:
        await asyncio.Event().wait()  # WeChat never answers; the round's limit cuts it

    async def announce(filing: dict[str, Any], ticket: Ticket) -> None:
        announced.append(ticket.id)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await queue.drain(filer.file, stuck)
    # Filed, and off the queue: the next round neither files nor tells it again.
    assert list(filer.tickets) == ["m-1"]
    assert await queue.drain(filer.file, announce) == 0
    assert announced == []
