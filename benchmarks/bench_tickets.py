"""Benchmark of the whole ticket path on SQLite and PostgreSQL, side by side.

Each ticket goes service → outbox → worker → embedded desk, as in ``intake serve`` with
its in-process worker: ``--concurrency`` residents file tickets at once through
``service.filing.file`` while ``--workers`` outbox workers (woken by each commit, as in
one process) deliver them to the embedded desk and queue the "dispatched" push, which a
push sender hands to a do-nothing WeChat stand-in (so its database work is measured).

Two runs per database:

* **burst** — ``--tickets`` filed as fast as ``--concurrency`` creators can:
  ``create/s`` (tickets filed per second, the resident-facing write), ``e2e/s`` (tickets
  per second from the first create to the last one dispatched) and the delivery lag;
* **paced** — ``--paced-tickets`` filed at a steady ``--rate`` per second, below capacity:
  the delivery lag residents see on a normal day.

Delivery lag: ticket received → its ``dispatched`` timeline entry (p50 / p99). Also per
ticket: the SQL statements sent (SQLite's ``BEGIN IMMEDIATE`` counted) and the process's
CPU milliseconds (filing, worker, desk and pushes together).

SQLite is a file in a temporary directory; PostgreSQL (``--postgres-url``, default the
test server) gets a schema of its own, dropped afterwards. Nothing is asserted.

Three runs by default (``--runs``): median and spread of each figure, the load average
around each run and the commit (``benchmarks/repeat.py``).

Usage: ``.venv/bin/python benchmarks/bench_tickets.py [--tickets N] [--concurrency C]
[--workers W] [--skip-postgres] [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import event, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from integrations.db import create_engine  # noqa: E402
from integrations.db.migrate import upgrade_database  # noqa: E402
from integrations.db.models import DispatchJobRow, TicketRow, TimelineRow  # noqa: E402
from integrations.dispatch.embedded import EmbeddedDesk  # noqa: E402
from integrations.dispatch.worker import OutboxWorker  # noqa: E402
from integrations.notify.sender import PushSender  # noqa: E402
from integrations.tickets import TicketConfig, TicketService  # noqa: E402

DEFAULT_POSTGRES = os.environ.get(
    "INTAKE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LOCATIONS = ("幸福小区3号楼东门", "和平路12号门口", "人民路88号", "光明街与建设路交叉口")


class NullMessenger:
    """WeChat that accepts everything instantly."""

    async def send_text(self, openid: str, content: str, *, retry_in_doubt: bool = True) -> None:
        return None

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        url: str | None = None,
        *,
        retry_in_doubt: bool = True,
    ) -> int:
        return 1

    async def send_subscription(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        page: str | None = None,
        retry_in_doubt: bool = True,
    ) -> None:
        return None


@contextlib.contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    schema = f"bench_tickets_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.asynccontextmanager
async def running_workers(
    service: TicketService, count: int
) -> AsyncIterator[list[OutboxWorker]]:
    desk = EmbeddedDesk(service.engine, taxonomy=service.core.taxonomy)
    workers = [
        OutboxWorker(
            service,
            desk,
            pusher=PushSender(service.core, NullMessenger(), worker_id=f"bench-push-{i}"),
            worker_id=f"bench-{i}",
        )
        for i in range(count)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run_forever(stop)) for w in workers]
    try:
        yield workers
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def run(
    url: str, tickets: int, concurrency: int, workers: int, rate: float | None = None
) -> dict[str, float]:
    """File ``tickets`` (at most ``concurrency`` at once; ``rate`` per second if given) and
    wait until all are dispatched."""
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    statements = _count_statements(engine)
    config = TicketConfig(worker_interval=0.2, batch_size=20, template_status_id="bench")
    service = TicketService(engine, config=config)
    limit = asyncio.Semaphore(concurrency)

    async def file(n: int, start: float) -> None:
        if rate:
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        async with limit:
            openid = f"oBench{n % 500:020d}"
            await service.filing.file(
                category="report.streetlight",
                description=f"第{n}号路灯不亮，晚上很黑",
                location=LOCATIONS[n % len(LOCATIONS)],
                phone="13800138000",
                openid=openid,
            )

    try:
        async with running_workers(service, workers):
            cpu = time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(file(n, started) for n in range(tickets)))
            created = time.perf_counter()
            while True:
                async with engine.connect() as conn:
                    pending = (
                        await conn.execute(
                            select(DispatchJobRow.id)
                            .where(DispatchJobRow.status != "delivered")
                            .execution_options(bench_probe=True)
                        )
                    ).all()
                if not pending:
                    break
                await asyncio.sleep(0.01)
            finished = time.perf_counter()
            cpu = time.process_time() - cpu
            executed = statements[0]
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(TicketRow.created_at, TimelineRow.at)
                    .join(TimelineRow, TimelineRow.ticket_id == TicketRow.id)
                    .where(TimelineRow.to_status == "dispatched")
                )
            ).all()
    finally:
        await engine.dispose()
    lags = sorted((at - created_at).total_seconds() * 1000 for created_at, at in rows)
    assert len(lags) == tickets, f"{len(lags)} of {tickets} dispatched"
    return {
        "create_rate": tickets / (created - started),
        "e2e_rate": tickets / (finished - started),
        "lag_p50": statistics.median(lags),
        "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "statements": executed / tickets,
        "cpu_ms": cpu * 1000 / tickets,
    }


def _count_statements(engine: AsyncEngine) -> list[int]:
    """A counter of the statements the app sends (SQLite's ``BEGIN IMMEDIATE`` included,
    the benchmark's own polling not), read as ``counter[0]``."""
    counter = [0]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> None:
        if context is None or not context.execution_options.get("bench_probe"):
            counter[0] += 1

    return counter


async def _one_run(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    burst: dict[str, dict[str, float]] = {}
    paced: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        burst["sqlite"] = await run(
            f"sqlite:///{tmp}/burst.db", args.tickets, args.concurrency, args.workers
        )
        paced["sqlite"] = await run(
            f"sqlite:///{tmp}/paced.db", args.paced_tickets, args.concurrency, args.workers,
            args.rate,
        )
    if not args.skip_postgres:
        for results, count, rate in (
            (burst, args.tickets, None),
            (paced, args.paced_tickets, args.rate),
        ):
            with postgres_schema(args.postgres_url) as url:
                results["postgresql"] = await run(
                    url, count, args.concurrency, args.workers, rate
                )
    return {"burst": burst, "paced": paced}


async def main() -> None:
    from benchmarks.repeat import Metric, Runs

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--paced-tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="tickets/s of the paced run")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="runs (median and spread)")
    args = parser.parse_args()

    runs = Runs(
        "bench_tickets",
        args.runs,
        settings=(
            f"{args.concurrency} concurrent creators, {args.workers} in-process workers, "
            "embedded desk, pushes to a null WeChat; one process, one event loop; burst of "
            f"{args.tickets}, paced {args.rate:g}/s x {args.paced_tickets}"
        ),
    )
    for _ in runs:
        runs.record(await _one_run(args))
    databases = ["sqlite"] + ([] if args.skip_postgres else ["postgresql"])
    metrics = [
        metric
        for db in databases
        for metric in (
            Metric(f"burst.{db}.create_rate", f"{db} burst created", "tickets/s", digits=0),
            Metric(f"burst.{db}.e2e_rate", f"{db} burst end to end", "tickets/s", digits=0),
            Metric(f"burst.{db}.lag_p50", f"{db} burst delivery lag p50", "ms"),
            Metric(f"burst.{db}.lag_p99", f"{db} burst delivery lag p99", "ms"),
            Metric(f"paced.{db}.lag_p50", f"{db} paced delivery lag p50", "ms"),
            Metric(f"paced.{db}.lag_p99", f"{db} paced delivery lag p99", "ms"),
            Metric(f"burst.{db}.statements", f"{db} burst statements a ticket", digits=2),
            Metric(f"paced.{db}.statements", f"{db} paced statements a ticket", digits=2),
            Metric(f"burst.{db}.cpu_ms", f"{db} burst CPU a ticket", "ms", digits=2),
            Metric(f"paced.{db}.cpu_ms", f"{db} paced CPU a ticket", "ms", digits=2),
        )
    ]
    runs.report(metrics)


if __name__ == "__main__":
    asyncio.run(main())
