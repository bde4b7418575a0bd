"""The analytics endpoints on a synthetic city's year, stored in a real database.

Called by ``benchmarks/analytics_city.py``: the year's tickets are written to a fresh
database (SQLite file by default, or ``--database-url``) with their timelines (filed,
signed, finished, reopened, rated) and the clusters the engine found, then

* the cluster keeper's start — every ticket's facts read back from the database and the
  clusters rebuilt — is timed once (what ``intake worker`` / ``intake serve`` does at
  start);
* each ``/api/analytics/*`` endpoint is called ``runs`` times through the real router
  (in-process ASGI, no sockets) with the service's clock at the end of the year, and the
  median and the runs are printed. The keeper's start loaded every ticket's facts into the
  process's facts cache, as in a running server, so the calls read memory (and re-read
  only tickets changed since, none here).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import insert

from bot.api.analytics import create_analytics_router
from integrations.analytics import ClusterEngine, TicketFact
from integrations.analytics.service import Analytics
from integrations.db import create_engine
from integrations.db.migrate import sync_database_url, upgrade_database
from integrations.db.models import ClusterRow, TicketClusterRow, TicketRow, TimelineRow
from integrations.tickets import TicketService

__all__ = ["ENDPOINTS", "measure_endpoints"]

TOKEN = "benchmark-token-0123456789"
#: (label, path) of the calls timed
ENDPOINTS = (
    ("hotspots, last 30 days", "/api/analytics/hotspots?days=30"),
    ("rates by department, last 30 days", "/api/analytics/rates?group=department"),
    ("rates by department, the whole year", "/api/analytics/rates?group=department"
     "&since=2026-01-01&until=2026-12-31"),
    ("rates by street, the whole year", "/api/analytics/rates?group=street"
     "&since=2026-01-01&until=2026-12-31"),
    ("rates by community, the whole year", "/api/analytics/rates?group=community"
     "&since=2026-01-01&until=2026-12-31"),
    ("monthly, July", "/api/analytics/monthly?month=2026-07"),
    ("monthly, December", "/api/analytics/monthly?month=2026-12"),
)
_CHUNK = 5000


def _rows(fact: TicketFact) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ticket row and its timeline from a generated fact."""
    created = fact.created_at
    ticket = {
        "id": fact.id,
        "openid": fact.openid,
        "category": fact.category,
        "description": fact.description,
        "location": fact.location,
        "phone": "",
        "photos": [],
        "chat": None,
        "source_key": None,
        "latitude": fact.latitude,
        "longitude": fact.longitude,
        "urgent": False,
        "department": fact.department,
        "grid": None,
        "street": fact.street,
        "community": fact.community,
        "level": "community",
        "status": fact.status,
        "sla_due_at": fact.due_at or created + timedelta(hours=72),
        "rating": fact.rating,
        "rating_reason": None,
        "channel": "wechat",
        "external_id": None,
        "dispatch_backend": None,
        "dispatch_token": None,
        "generation": 1 + fact.reopened,
        "polled_at": None,
        "created_at": created,
        "updated_at": fact.resolved_at or fact.signed_at or created,
    }
    events = [(created, None, "received")]
    current = "received"
    if fact.signed_at is not None:
        events.append((fact.signed_at, current, "in_progress"))
        current = "in_progress"
    if fact.status == "rejected":
        events.append(((fact.signed_at or created) + timedelta(hours=1), current, "rejected"))
    if fact.reopened:
        first = (fact.signed_at or created) + timedelta(hours=1)
        events += [(first, current, "resolved"), (first + timedelta(hours=2), "resolved",
                                                   "reopened")]
        current = "reopened"
    if fact.resolved_at is not None and fact.status in ("resolved", "closed"):
        events.append((fact.resolved_at, current, "resolved"))
        if fact.status == "closed":
            events.append((fact.resolved_at + timedelta(hours=3), "resolved", "closed"))
    timeline = [
        {"ticket_id": fact.id, "at": at, "actor": "system", "from_status": before,
         "to_status": after, "note": None}
        for at, before, after in events
    ]
    return ticket, timeline


def _store(url: str, facts: Sequence[TicketFact], engine: ClusterEngine) -> float:
    started = time.perf_counter()
    upgrade_database(url)
    sync = create_sync_engine(sync_database_url(url))
    try:
        with sync.begin() as conn:
            for start in range(0, len(facts), _CHUNK):
                tickets, events = [], []
                for fact in facts[start : start + _CHUNK]:
                    ticket, timeline = _rows(fact)
                    tickets.append(ticket)
                    events.extend(timeline)
                conn.execute(insert(TicketRow), tickets)
                conn.execute(insert(TimelineRow), events)
            now = facts[-1].created_at
            assignments = [
                {"ticket_id": t, "cluster_id": c, "reason": "rebuild", "similarity": 0.0,
                 "assigned_at": now}
                for t, c in engine.assignments().items()
            ]
            for start in range(0, len(assignments), _CHUNK):
                conn.execute(insert(TicketClusterRow), assignments[start : start + _CHUNK])
            summaries = [
                {"id": v.id, "category": v.category, "place": v.place[:128], "street": None,
                 "community": None, "first_at": v.first_at, "last_at": v.last_at,
                 "size": v.size, "residents": v.residents, "latitude": None,
                 "longitude": None, "updated_at": now}
                for v in engine.clusters(min_size=2)
            ]
            for start in range(0, len(summaries), _CHUNK):
                conn.execute(insert(ClusterRow), summaries[start : start + _CHUNK])
    finally:
        sync.dispose()
    return time.perf_counter() - started


Timings = list[tuple[str, list[float]]]


async def _measure(url: str, end: datetime, runs: int) -> tuple[float, Timings]:
    engine = create_engine(url)
    try:
        service = TicketService(engine, clock=lambda: end)
        analytics = Analytics(service)
        started = time.perf_counter()
        await analytics.keeper.rebuild()
        keeper_s = time.perf_counter() - started
        app = FastAPI()
        app.include_router(create_analytics_router(analytics.reports, admin_token=TOKEN))
        timings: Timings = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=600,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:
            for label, path in ENDPOINTS:
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    response = await client.get(path)
                    times.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                timings.append((f"{label} ({len(response.json()['items'])} rows)", times))
        return keeper_s, timings
    finally:
        await engine.dispose()


def measure_endpoints(
    facts: Sequence[TicketFact], engine: ClusterEngine, *, runs: int, database_url: str | None
) -> None:
    """Store the year, time the keeper's start and the endpoints; print a table."""
    with tempfile.TemporaryDirectory(prefix="intake-analytics-bench-") as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'intake.db'}"
        store_s = _store(url, facts, engine)
        end = facts[-1].created_at + timedelta(minutes=1)
        keeper_s, timings = asyncio.run(_measure(url, end, runs))
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print()
    print(
        f"analytics endpoints on {len(facts):,} tickets in {backend} (stored in "
        f"{store_s:.1f} s; clock at the end of the year):"
    )
    print(f"| endpoint | median of {runs} | runs |")
    print("| --- | ---: | --- |")
    print(
        f"| cluster keeper start (all facts from the database + rebuild; once) | "
        f"{keeper_s:.1f} s | – |"
    )
    for label, times in timings:
        runs_ms = ", ".join(f"{1000 * t:.0f}" for t in times)
        print(f"| {label} | **{1000 * statistics.median(times):.0f} ms** | {runs_ms} ms |")
