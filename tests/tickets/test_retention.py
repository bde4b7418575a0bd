"""Issue 13: residents' raw chat text is purged after ``INTAKE_CHAT_RETENTION_DAYS`` by the
worker's periodic chores, and a resident's on request (``intake resident purge``) — on
SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.accounts import AuditLog
from integrations.db import create_engine
from integrations.db.models import HandoffMessageRow, ReviewItemRow
from integrations.handoffs import HandoffService
from integrations.retention import ERASED, purge_resident
from integrations.state import MemoryStore
from integrations.tickets import TicketService
from integrations.training.review import ReviewQueue
from tests.bot.test_cli_and_config import ROOT, _env
from tests.tickets.conftest import MakeService, MakeWorker, create_ticket
from tests.tickets.fakes import FakeBackend, FakeClock

CHAT = [{"at": "2026-11-23T10:00:00+08:00", "role": "resident", "text": "路灯坏了，我住3号楼"}]


async def _a_day_of_talk(
    service: TicketService, engine: AsyncEngine, clock: FakeClock, openid: str
) -> tuple[str, int]:
    """A ticket with its chat, a handoff with lines, a review item — all said now."""
    ticket = await create_ticket(service, openid=openid, chat=CHAT)
    handoffs = HandoffService(engine, MemoryStore(), clock=clock)
    handoff = await handoffs.start(openid, "requested")
    await handoffs.record(openid, "resident", "我住幸福小区3号楼2单元502")
    await ReviewQueue(engine, clock=clock).add(
        openid=openid, text=f"这句没听懂 {openid}", reason="fallback"
    )
    return ticket.id, handoff.id


async def _counts(engine: AsyncEngine, handoff_id: int, openid: str) -> tuple[int, int]:
    async with engine.connect() as conn:
        lines = (
            await conn.execute(
                select(func.count())
                .select_from(HandoffMessageRow)
                .where(HandoffMessageRow.handoff_id == handoff_id)
            )
        ).scalar_one()
        reviews = (
            await conn.execute(
                select(func.count())
                .select_from(ReviewItemRow)
                .where(ReviewItemRow.openid == openid)
            )
        ).scalar_one()
    return int(lines), int(reviews)


async def test_the_worker_purges_chat_text_past_the_retention_period(
    service: TicketService,
    engine: AsyncEngine,
    clock: FakeClock,
    make_worker: MakeWorker,
) -> None:
    assert service.config.chat_retention_days == 180  # the default
    old_ticket, old_handoff = await _a_day_of_talk(service, engine, clock, "o-old")
    clock.advance(hours=24 * 120)
    new_ticket, new_handoff = await _a_day_of_talk(service, engine, clock, "o-new")
    clock.advance(hours=24 * 61)  # the old talk is 181 days old, the new one 61
    worker = make_worker(service, FakeBackend())

    await worker.run_once()

    old, new = await service.queries.get(old_ticket), await service.queries.get(new_ticket)
    assert old.chat == () and new.chat != ()
    assert old.description == "小区门口的路灯坏了三天了"  # the ticket itself is the record
    assert await _counts(engine, old_handoff, "o-old") == (0, 0)
    assert await _counts(engine, new_handoff, "o-new") == (1, 1)

    # Another 120 days: the newer talk goes too, at the worker's next look.
    clock.advance(hours=24 * 120)
    await worker.run_once()
    assert (await service.queries.get(new_ticket)).chat == ()
    assert await _counts(engine, new_handoff, "o-new") == (0, 0)


async def test_retention_zero_keeps_everything(
    engine: AsyncEngine, make_service: MakeService, clock: FakeClock, make_worker: MakeWorker
) -> None:
    service = make_service(engine, chat_retention_days=0)
    ticket_id, handoff_id = await _a_day_of_talk(service, engine, clock, "o-kept")
    clock.advance(hours=24 * 1000)
    await make_worker(service, FakeBackend()).run_once()
    assert (await service.queries.get(ticket_id)).chat != ()
    assert await _counts(engine, handoff_id, "o-kept") == (1, 1)


async def test_purging_one_resident_on_request(
    service: TicketService, engine: AsyncEngine, clock: FakeClock
) -> None:
    ticket_id, handoff_id = await _a_day_of_talk(service, engine, clock, "o-gone")
    other_ticket, other_handoff = await _a_day_of_talk(service, engine, clock, "o-stays")
    store = MemoryStore()
    await store.set("chat:o-gone", b"[]")
    await store.set("fsm:o-gone", b"{}")

    purged = await purge_resident(engine, store, "o-gone", tickets=True)

    assert (purged.ticket_chats, purged.handoff_lines, purged.review_items) == (1, 1, 1)
    assert purged.tickets_erased == 1
    gone = await service.queries.get(ticket_id)
    assert gone.chat == () and gone.phone == "" and gone.description == ERASED
    assert gone.location == ERASED and gone.status == "received"  # still a record
    assert await _counts(engine, handoff_id, "o-gone") == (0, 0)
    assert await store.get("chat:o-gone") is None and await store.get("fsm:o-gone") is None
    kept = await service.queries.get(other_ticket)
    assert kept.chat != () and kept.phone == "13800138000"
    assert await _counts(engine, other_handoff, "o-stays") == (1, 1)


def test_intake_resident_purge(sqlite_url: str, tmp_path: Path) -> None:
    """The command an operator runs for a resident's request; audited, openid masked."""

    async def prepare() -> str:
        engine = create_engine(sqlite_url)
        try:
            service = TicketService(engine)
            ticket = await create_ticket(service, openid="oRequester000000001", chat=CHAT)
            return str(ticket.id)
        finally:
            await engine.dispose()

    ticket_id = asyncio.run(prepare())
    env = _env(tmp_path, DATABASE_URL=sqlite_url)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "resident", "purge", "oRequester000000001"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": os.fspath(ROOT)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("purged oReq***0001: chat removed from 1 tickets")
    assert "oRequester000000001" not in result.stdout

    async def check() -> tuple[Any, list[Any]]:
        engine = create_engine(sqlite_url)
        try:
            ticket = await TicketService(engine).queries.get(ticket_id)
            return ticket, await AuditLog(engine).recent(action="resident.purge")
        finally:
            await engine.dispose()

    ticket, [entry] = asyncio.run(check())
    assert ticket.chat == () and ticket.phone == "13800138000"  # --tickets not given
    assert (entry.actor, entry.target) == ("命令行", "resident:oReq***0001")


@pytest.mark.parametrize("days", ["-1", "soon"])
def test_a_bad_retention_setting_is_refused(days: str) -> None:
    from core.errors import ConfigurationError
    from core.settings import Settings

    with pytest.raises(ConfigurationError, match="INTAKE_CHAT_RETENTION_DAYS"):
        Settings.read({"INTAKE_CHAT_RETENTION_DAYS": days})


def test_retention_reaches_the_worker_from_the_settings(tmp_path: Path) -> None:
    from bot.config import load_settings
    from integrations.tickets import TicketConfig

    settings = load_settings(INTAKE_DATA_DIR=tmp_path, INTAKE_CHAT_RETENTION_DAYS=30)
    assert TicketConfig.from_settings(settings).chat_retention_days == 30
    assert timedelta(days=TicketConfig().chat_retention_days) == timedelta(days=180)
