"""Issue 16: on SQLite, a resident's turn waiting to write goes before the background
passes queued earlier (``integrations/db/writer_lock.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from integrations.db import create_engine
from integrations.db.migrate import sqlite_writer_lock
from integrations.db.writer_lock import WriterLock, background_writes


async def test_a_waiting_turn_goes_before_background_passes() -> None:
    lock = WriterLock()
    order: list[str] = []

    async def writer(name: str) -> None:
        async with lock:
            order.append(name)
            await asyncio.sleep(0)

    await lock.acquire()  # a pass holds it
    with background_writes():
        passes = [asyncio.create_task(writer(f"pass {i}")) for i in range(3)]
    await asyncio.sleep(0)
    turns = [asyncio.create_task(writer(f"turn {i}")) for i in range(2)]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*passes, *turns)
    assert order == ["turn 0", "turn 1", "pass 0", "pass 1", "pass 2"]
    assert not lock.locked()


async def test_a_cancelled_waiter_neither_keeps_nor_loses_the_lock() -> None:
    lock = WriterLock()
    await lock.acquire()
    gone = asyncio.create_task(lock.acquire())
    after = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    lock.release()
    await asyncio.wait_for(after, 1)  # the next waiter got it
    lock.release()
    assert not lock.locked()
    # Cancelled just as the lock was handed over: it is passed on, not kept.
    await lock.acquire()
    handed = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # hands it to `handed`...
    handed.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert not lock.locked()


async def test_sqlite_writers_queue_on_it_postgresql_writers_do_not(tmp_path: Path) -> None:
    sqlite = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    postgres = create_engine("postgresql://intake@127.0.0.1:1/intake")
    try:
        lock = sqlite_writer_lock(sqlite.sync_engine)
        assert isinstance(lock, WriterLock)
        assert sqlite_writer_lock(sqlite.sync_engine) is lock  # one per engine and loop
        assert sqlite_writer_lock(postgres.sync_engine) is None
    finally:
        await sqlite.dispose()
        await postgres.dispose()
