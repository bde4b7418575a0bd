"""Issue 16: the PostgreSQL pool (``integrations/db/engine.py``) keeps the connections it
opens, and pings one before use only when it sat idle; one that died meanwhile is
replaced, not handed out."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text

from integrations.db import create_engine
from integrations.db.engine import DATABASE_POOL_SIZE
from tests.conftest import POSTGRES_TEST_URL, require_server


async def test_only_idle_connections_are_pinged_and_dead_ones_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    monkeypatch.setattr("integrations.db.engine.PING_AFTER_IDLE_SECONDS", 0.2)
    engine = create_engine(POSTGRES_TEST_URL)
    dialect = engine.sync_engine.dialect
    pings: list[Any] = []
    real_ping = dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted_ping)

    async def backend_pid() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = await backend_pid()  # a new connection: nothing to ping
        for _ in range(5):  # back in use at once, as under load: no ping
            assert await backend_pid() == first
        assert pings == []

        await asyncio.sleep(0.3)
        assert await backend_pid() == first  # idle for a while: pinged, still alive
        assert len(pings) == 1

        with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        await asyncio.sleep(0.3)
        # The dead connection failed its ping and was replaced: the statement never saw it.
        replacement = await backend_pid()
        assert replacement != first
        assert len(pings) == 2
    finally:
        await engine.dispose()


async def test_a_burst_reuses_the_connections_of_the_last_one() -> None:
    """More transactions at once than the pool holds wait for a connection; none is closed
    on return, so the next burst opens none (each is a server process to PostgreSQL)."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    engine = create_engine(POSTGRES_TEST_URL)
    opened: list[object] = []
    closed: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda *a: opened.append(a))
    event.listen(engine.sync_engine.pool, "close", lambda *a: closed.append(a))

    async def transaction() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_sleep(0.02)"))

    try:
        await asyncio.gather(*(transaction() for _ in range(2 * DATABASE_POOL_SIZE)))
        assert len(opened) == DATABASE_POOL_SIZE
        await asyncio.gather(*(transaction() for _ in range(2 * DATABASE_POOL_SIZE)))
        assert len(opened) == DATABASE_POOL_SIZE
        assert closed == []
    finally:
        await engine.dispose()
