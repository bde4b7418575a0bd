"""The residents' message times the bot buffers (the starts of their 48-hour windows): noted
once per resident while the mark lasts, written in batches, and never lost to a failed write
(a lost start leaves the window closed, and a push the resident is owed is refused)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from bot.dialogue.desks import ServiceTicketDesk
from core.errors import DatabaseUnavailable
from integrations.tickets import TicketService
from privacy import Sealer

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


class _Windows:
    """Records written batches; fails the next writes with the errors queued in ``fail``;
    with ``released`` set to an event, a write starts (``started``) and waits for it."""

    def __init__(self) -> None:
        self.written: list[list[tuple[str, datetime]]] = []
        self.fail: list[Exception] = []
        self.started = asyncio.Event()
        self.released: asyncio.Event | None = None

    async def record_inbound_many(self, items: Sequence[tuple[str, datetime]]) -> None:
        self.started.set()
        if self.released is not None:
            await self.released.wait()
        if self.fail:
            raise self.fail.pop(0)
        self.written.append(list(items))


class _Service:
    def __init__(self) -> None:
        self.windows = _Windows()

    def now(self) -> datetime:
        return NOW


def _desk() -> tuple[ServiceTicketDesk, _Windows]:
    service = _Service()
    desk = ServiceTicketDesk(
        cast(TicketService, cast(Any, service)),
        sealer=Sealer("Hq7vX2mR9kLp4TzN8cWb5JdF3sGy6Ue1"),
    )
    return desk, service.windows


async def test_one_time_per_resident_in_one_batch() -> None:
    desk, windows = _desk()
    for openid in ("o-1", "o-2", "o-1", "o-1"):
        await desk.record_inbound(openid)
    await desk.flush_inbound()
    await desk.flush_inbound()  # nothing new: no write
    assert windows.written == [[("o-1", NOW), ("o-2", NOW)]]


@pytest.mark.parametrize(
    "error",
    [DatabaseUnavailable("the database cannot be reached"), RuntimeError("connection cut")],
)
async def test_a_failed_write_keeps_the_times_for_the_next_round(error: Exception) -> None:
    desk, windows = _desk()
    await desk.record_inbound("o-1")
    windows.fail.append(error)
    if isinstance(error, DatabaseUnavailable):
        await desk.flush_inbound()  # expected while the database is away: a warning
    else:
        with pytest.raises(RuntimeError):  # anything else is raised (and logged) as well
            await desk.flush_inbound()
    assert windows.written == []
    await desk.flush_inbound()
    assert windows.written == [[("o-1", NOW)]]


async def test_a_flush_returns_only_once_a_write_under_way_is_on_record() -> None:
    # A push checks the resident's window right after flushing: finding the buffer emptied
    # by the periodic flusher's write still in flight, it read the window before that write
    # committed and was refused (seen after a database outage).
    desk, windows = _desk()
    windows.released = released = asyncio.Event()
    await desk.record_inbound("o-1")
    periodic = asyncio.create_task(desk.flush_inbound())
    await windows.started.wait()
    before_push = asyncio.create_task(desk.flush_inbound())
    await asyncio.sleep(0.05)
    assert not before_push.done()  # waits for the write under way
    released.set()
    await asyncio.gather(periodic, before_push)
    assert windows.written == [[("o-1", NOW)]]


async def test_callers_arriving_together_share_one_write() -> None:
    # Under load every confirmation flushes before filing. Queued one behind the other on a
    # lock, each woke in its own pass of the event loop once the caller before it was done
    # (at full load a pass takes milliseconds): the last one waited fifty passes.
    desk, windows = _desk()
    windows.released = released = asyncio.Event()
    await desk.record_inbound("o-0")
    first = asyncio.create_task(desk.flush_inbound())
    await windows.started.wait()  # its write is under way with o-0
    waiting = []
    for n in range(1, 51):
        await desk.record_inbound(f"o-{n}")
        waiting.append(asyncio.create_task(desk.flush_inbound()))
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in (first, *waiting))
    released.set()
    passes = 0
    while not all(task.done() for task in (first, *waiting)):
        await asyncio.sleep(0)
        passes += 1
    assert passes < 10  # not one pass per caller
    await asyncio.gather(first, *waiting)
    # o-0's write, then one write for the fifty who came while it was under way
    assert windows.written == [[("o-0", NOW)], [(f"o-{n}", NOW) for n in range(1, 51)]]
    await desk.flush_inbound()  # everything on record: no write
    assert len(windows.written) == 2


async def test_a_flush_for_one_resident_waits_only_for_that_residents_time() -> None:
    # A filing (or a push) needs its own resident's window on record. That time was most
    # often written by the periodic flush seconds ago; the times of others noted since
    # need not be written first: no write waits on the confirmation.
    desk, windows = _desk()
    await desk.record_inbound("o-1")
    await desk.flush_inbound()  # the periodic flush
    await desk.record_inbound("o-2")
    await desk.record_inbound("o-3")
    await desk.flush_inbound("o-1")
    assert windows.written == [[("o-1", NOW)]]
    await desk.flush_inbound("o-4")  # not noted by this process: nothing to wait for
    assert windows.written == [[("o-1", NOW)]]
    await desk.flush_inbound("o-3")  # waiting: written, with everything buffered
    assert windows.written == [[("o-1", NOW)], [("o-2", NOW), ("o-3", NOW)]]


async def test_a_flush_for_one_resident_waits_for_the_write_holding_their_time() -> None:
    desk, windows = _desk()
    windows.released = released = asyncio.Event()
    await desk.record_inbound("o-1")
    periodic = asyncio.create_task(desk.flush_inbound())
    await windows.started.wait()  # o-1's time is in this write
    await desk.record_inbound("o-2")
    before_filing = asyncio.create_task(desk.flush_inbound("o-1"))
    await asyncio.sleep(0.05)
    assert not before_filing.done()
    released.set()
    await asyncio.gather(periodic, before_filing)
    assert windows.written == [[("o-1", NOW)]]  # o-2 waits for the next round
