"""CPU of one SQLite statement through SQLAlchemy: stock aiosqlite against the project's
one-hop connection (``integrations/db/sqlite_driver.py``), side by side in the same run.

Three shapes, each timed with ``time.process_time`` (the process's CPU, aiosqlite's thread
included) over many repetitions on a fresh file:

* ``statement`` — a one-row ``SELECT`` by primary key inside an open session;
* ``read`` — a session, a read transaction, that ``SELECT``, the connection back to the pool;
* ``write`` — a session, a write transaction (``BEGIN IMMEDIATE``), an ``UPDATE``, commit.

    .venv/bin/python benchmarks/bench_sqlite_driver.py            # three runs, medians
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import (  # noqa: E402
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from benchmarks.repeat import Metric, Runs  # noqa: E402
from integrations.db import create_engine  # noqa: E402
from integrations.db.migrate import READONLY, enable_sqlite_transactions  # noqa: E402

SHAPES = ("statement", "read", "write")


async def _cpu_ms(times: int, step: Callable[[int], Awaitable[object]]) -> float:
    for i in range(min(50, times)):  # warm: pool, statement cache
        await step(i)
    started = time.process_time()
    for i in range(times):
        await step(i)
    return (time.process_time() - started) / times * 1000


async def _measure(engine: AsyncEngine, times: int) -> dict[str, float]:
    enable_sqlite_transactions(engine.sync_engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
        await conn.execute(text("INSERT OR REPLACE INTO t (id, v) VALUES (1, 'a')"))
    writer = async_sessionmaker(engine)
    reader = async_sessionmaker(engine.execution_options(**{READONLY: True}))
    one_row = text("SELECT v FROM t WHERE id = :id")
    figures: dict[str, float] = {}
    async with reader() as session, session.begin():

        async def statement(_: int) -> object:
            return (await session.execute(one_row, {"id": 1})).scalar_one()

        figures["statement"] = await _cpu_ms(times, statement)

    async def read(_: int) -> object:
        async with reader() as session, session.begin():
            return (await session.execute(one_row, {"id": 1})).scalar_one()

    async def write(i: int) -> object:
        async with writer() as session, session.begin():
            return await session.execute(text("UPDATE t SET v = :v WHERE id = 1"), {"v": str(i)})

    figures["read"] = await _cpu_ms(times, read)
    figures["write"] = await _cpu_ms(times // 2, write)
    await engine.dispose()
    return figures


async def _once(times: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        stock = create_async_engine(f"sqlite+aiosqlite:///{tmp}/stock.db")
        one_hop = create_engine(f"sqlite:///{tmp}/one-hop.db")
        return {
            "aiosqlite": await _measure(stock, times),
            "one_hop": await _measure(one_hop, times),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--times", type=int, default=3000, help="repetitions per shape")
    args = parser.parse_args(argv)
    runs = Runs("bench_sqlite_driver", count=args.runs, settings=f"{args.times} repetitions")
    for _ in runs:
        figures = asyncio.run(_once(args.times))
        for driver in ("aiosqlite", "one_hop"):
            line = "  ".join(f"{s} {figures[driver][s]:.3f}" for s in SHAPES)
            print(f"   {driver:<10} ms CPU: {line}")
        runs.record(figures)
    runs.report(
        [
            Metric(f"{driver}.{shape}", f"{driver} {shape}", "ms CPU", digits=3)
            for shape in SHAPES
            for driver in ("aiosqlite", "one_hop")
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
