"""Issue 16: the embedded SQLite engine runs each statement in one hop to aiosqlite's thread
(``integrations/db/sqlite_driver.py``) and still answers as SQLAlchemy expects."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import DatabaseUnavailable
from integrations.db import create_engine
from integrations.db.migrate import enable_sqlite_transactions
from integrations.db.sqlite_driver import OneHopConnection


async def test_statements_answer_rows_counts_and_ids_in_one_hop(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'one-hop.db'}")
    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, OneHopConnection)
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            # executemany
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}])
            inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('c')"))
            assert inserted.lastrowid == 3
            returned = await conn.execute(text("INSERT INTO t (v) VALUES ('d') RETURNING id"))
            assert returned.scalar_one() == 4
            updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id <= 2"))
            assert updated.rowcount == 2
            rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [(1, "a!"), (2, "b!"), (3, "c"), (4, "d")]
            streamed = await conn.stream(text("SELECT v FROM t ORDER BY id"))
            assert [r.v async for r in streamed] == ["a!", "b!", "c", "d"]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('c')"))
        async with engine.connect() as conn:  # the failed transaction left nothing behind
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4
    finally:
        await engine.dispose()


async def test_the_event_loop_runs_while_a_statement_waits(tmp_path: Path) -> None:
    """SQLite still works on the connection's thread: a statement that takes long (here,
    a big recursive count) does not stop the loop."""
    engine = create_engine(f"sqlite:///{tmp_path / 'slow.db'}")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        async with engine.connect() as conn:
            slow = text(
                "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
                "WHERE n < 3000000) SELECT count(*) FROM c"
            )
            assert (await conn.execute(slow)).scalar_one() == 3000000
        assert ticks >= 3
    finally:
        task.cancel()
        await engine.dispose()


async def _table_t_counting_hops(engine: AsyncEngine) -> list[str]:
    """Create table ``t`` and return the list the (pooled) connection then records each
    hop to its thread in (the name of the function run there)."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (v TEXT)"))
        raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, OneHopConnection)
    hops: list[str] = []
    real = raw._execute

    async def counted(fn: object, *args: object, **kwargs: object) -> object:
        hops.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    raw._execute = counted  # type: ignore[method-assign]
    return hops


async def test_a_rollback_with_nothing_open_costs_no_hop(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'reset.db'}")
    try:
        hops = await _table_t_counting_hops(engine)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES ('x')"))
        # The statement and the commit; the pool's rollback on return found nothing open.
        assert hops == ["_run", "commit"]
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES ('y')"))
                raise RuntimeError("the turn failed")
        assert hops[-1] == "rollback"  # an open transaction is still rolled back
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_begin_goes_with_the_first_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's ``BEGIN IMMEDIATE`` costs no hop of its own: it runs in the first
    statement's hop, and still takes the write lock before that statement."""
    monkeypatch.setattr("integrations.db.migrate.SQLITE_BUSY_TIMEOUT_MS", 50)
    engine = create_engine(f"sqlite:///{tmp_path / 'begin.db'}")
    enable_sqlite_transactions(engine.sync_engine)
    other = sqlite3.connect(tmp_path / "begin.db", isolation_level=None, timeout=0.05)
    try:
        hops = await _table_t_counting_hops(engine)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES ('x')"))
            # BEGIN IMMEDIATE ran: another writer is kept out until the commit.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t VALUES ('other')")
            await conn.execute(text("INSERT INTO t VALUES ('y')"))
        assert hops == ["_run", "_run", "commit"]
        hops.clear()
        async with engine.begin():
            pass  # a transaction with no statement never began: nothing to commit
        assert hops == []
        # While another process holds the write lock, the first statement reports it.
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseUnavailable):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES ('z')"))
        other.execute("ROLLBACK")
        async with engine.connect() as conn:
            values = (await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
        assert values == ["x", "y"]
    finally:
        other.close()
        await engine.dispose()
