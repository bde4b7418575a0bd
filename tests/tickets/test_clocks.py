"""Working-day clocks on tickets (issue 17), with a frozen clock on the real 2026 calendar.

Spring Festival 2026: Saturday 14 February is a working day (调休), Sunday 15 – Monday 23
February are off, Tuesday 24 February work resumes. A streetlight ticket (签收 within 2
working hours, 办结 within 3 working days; office hours 09:00–12:00, 13:30–18:00) filed on
Friday 13 February, the day before, is due for completion on Wednesday 25 February.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.db.models import TicketRow
from integrations.dispatch.embedded import EmbeddedDesk
from integrations.tickets import TicketService
from tests.tickets.conftest import MakeService, MakeWorker, create_ticket
from tests.tickets.fakes import FakeClock

CN = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Beijing in 2026, as the fake clock keeps it (UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=CN).astimezone(UTC)


async def test_filed_the_friday_before_the_holiday_week(
    service: TicketService, clock: FakeClock
) -> None:
    clock.now = at(2, 13, 10)
    ticket = await create_ticket(service)
    assert ticket.clock_started_at == at(2, 13, 10)
    assert ticket.sign_due_at == at(2, 13, 12)
    # Saturday 14th (调休) is the first working day, Tuesday 24th and Wednesday 25th the others.
    assert ticket.sla_due_at == at(2, 25, 18)

    clock.now = at(2, 13, 17)  # one working hour left on Friday: the second on Saturday
    late = await create_ticket(service)
    assert late.sign_due_at == at(2, 14, 10)
    assert late.sla_due_at == at(2, 25, 18)

    clock.now = at(2, 14, 9, 30)  # filed on the 调休 Saturday itself
    saturday = await create_ticket(service, category="report.elevator")  # 0.5h, 1 day
    assert saturday.sign_due_at == at(2, 14, 10)
    assert saturday.sla_due_at == at(2, 24, 18)

    clock.now = at(2, 20, 10)  # during the holiday: hours count from when work resumes,
    holiday = await create_ticket(service)  # days from the first working day after the 20th
    assert holiday.sign_due_at == at(2, 24, 11)
    assert holiday.sla_due_at == at(2, 26, 18)


async def test_warnings_fire_once_each_and_count_what_ran_out(
    service: TicketService, clock: FakeClock
) -> None:
    clock.now = at(2, 13, 10)
    ticket = await create_ticket(service)
    check = service.warnings.check_due

    async def fired() -> list[tuple[str, str]]:
        found = await service.queries.get(ticket.id)
        return [(w.clock, w.level) for w in found.warnings]

    clock.now = at(2, 13, 11, 29)
    assert await check() == 0
    clock.now = at(2, 13, 11, 31)  # 75 % of two working hours
    assert await asyncio.gather(check(), check()) in ([1, 0], [0, 1])
    assert await check() == 0
    clock.now = at(2, 13, 11, 50)  # 90 %
    assert await check() == 1
    clock.now = at(2, 13, 12, 1)
    assert await check() == 1
    assert await check() == 0
    assert await fired() == [
        ("sign_for", "yellow"),
        ("sign_for", "red"),
        ("sign_for", "overdue"),
    ]
    signed = await service.status.transition(ticket.id, "in_progress", actor="staff:照明处")
    assert signed.signed_at == at(2, 13, 12, 1) and signed.overdue_count == 1

    # 办结: 29 working hours from Friday 10:00; 75 % falls on Wednesday 25th at 09:15 — the
    # holiday week counts for nothing, the 调休 Saturday counts in full.
    for moment in (at(2, 14, 18), at(2, 20, 12), at(2, 24, 18), at(2, 25, 9, 14)):
        clock.now = moment
        assert await check() == 0, moment
    clock.now = at(2, 25, 9, 16)
    assert await check() == 1
    clock.now = at(2, 25, 15, 7)  # 90 %: 26.1 working hours
    assert await check() == 1
    clock.now = at(2, 25, 18, 1)
    assert await check() == 1
    clock.now = at(2, 26, 10)
    assert await check() == 0

    done = await service.queries.get(ticket.id)
    assert [(w.clock, w.level) for w in done.warnings][3:] == [
        ("completion", "yellow"),
        ("completion", "red"),
        ("completion", "overdue"),
    ]
    assert done.overdue_count == 2
    assert [w.webhook_status for w in done.warnings] == ["off"] * 6  # console only
    notes = [e.note or "" for e in done.history if e.actor == "system"]
    assert len(notes) == 6 and all(n.startswith("向市政照明管理处发出预警：") for n in notes)
    assert "签收时限将至（黄色预警）：请于2月13日12:00前签收" in notes[0]
    assert "已超过办结时限（2月25日18:00）" in notes[-1]
    newest = await service.warnings.recent(department="市政照明管理处")
    assert [w.text for w in newest] == [w.text for w in reversed(done.warnings)]
    assert await service.warnings.recent(department="环卫所") == []
    [counts] = await service.warnings.counts()
    assert (counts.department, counts.yellow, counts.red, counts.overdue) == (
        "市政照明管理处", 2, 2, 2,
    )


async def test_resolving_stops_the_clocks(service: TicketService, clock: FakeClock) -> None:
    clock.now = at(2, 13, 10)
    ticket = await create_ticket(service)
    clock.now = at(2, 13, 11)
    await service.status.transition(ticket.id, "resolved", note="已修复", actor="staff:王")
    clock.now = at(3, 2, 10)
    assert await service.warnings.check_due() == 0
    done = await service.queries.get(ticket.id)
    assert done.completed_at == at(2, 13, 11) and done.warnings == ()


async def test_warnings_go_to_the_webhook_signed_and_retried(
    engine: AsyncEngine, make_service: MakeService, clock: FakeClock
) -> None:
    service = make_service(
        engine,
        warning_webhook_url="https://hooks.example/warnings",
        warning_webhook_secret="s3cret-for-warnings-0123456789",
    )
    received: list[httpx.Request] = []
    answers = [503, 200]

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(answers.pop(0) if answers else 200)

    service.warnings.transport = httpx.MockTransport(hook)
    clock.now = at(2, 13, 10)
    ticket = await create_ticket(service)
    clock.now = at(2, 13, 11, 31)
    await service.warnings.check_due()

    assert await service.warnings.deliver() == 0  # 503: kept for a retry
    assert await service.warnings.deliver() == 0  # not due yet (a minute of backoff)
    clock.advance(61)
    assert await service.warnings.deliver() == 1
    assert await service.warnings.deliver() == 0
    first, second = received
    assert first.content == second.content  # the same warning, the same key
    body = json.loads(second.content)
    assert body["ticket_id"] == ticket.id and body["key"].startswith(f"{ticket.id}:sign_for:")
    assert (body["clock"], body["level"], body["department"]) == (
        "sign_for", "yellow", "市政照明管理处",
    )
    assert body["deadline"] == "2026-02-13T12:00:00+08:00"
    expected = hmac.new(b"s3cret-for-warnings-0123456789", second.content, hashlib.sha256)
    assert second.headers["X-Intake-Signature"] == "sha256=" + expected.hexdigest()
    [warning] = (await service.queries.get(ticket.id)).warnings
    assert (warning.webhook_status, warning.webhook_attempts) == ("sent", 2)


async def test_the_worker_warns_before_it_escalates(
    service: TicketService, make_worker: MakeWorker, clock: FakeClock
) -> None:
    desk = EmbeddedDesk(service.engine, clock=clock)
    worker = make_worker(service, desk)
    clock.now = at(2, 13, 10)
    ticket = await create_ticket(service, category="report.elevator")  # 办结 Saturday 18:00
    await worker.run_once()
    await service.status.transition(ticket.id, "in_progress", actor="staff:特种设备科")
    clock.now = at(2, 14, 18, 1)
    worker._next_escalation = None  # the next pass is an escalation pass
    await worker.run_once()

    escalated = await service.queries.get(ticket.id)
    assert escalated.level == "street" and escalated.overdue_count == 1
    notes = [e.note or "" for e in escalated.history]
    warned = next(i for i, n in enumerate(notes) if "已超过办结时限" in n)
    assert "升级至街道级办理" in notes[warned + 1]
    # New clocks from the escalation; signed for already, so only 办结 runs: Tuesday 24th.
    assert escalated.sla_due_at == at(2, 24, 18)
    assert escalated.signed_at is not None
    assert escalated.clock_started_at == at(2, 14, 18, 1)


async def test_imported_history_without_clocks_never_warns(
    service: TicketService, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)
    async with service.core.write() as session:
        row = await session.get(TicketRow, ticket.id)
        assert row is not None
        row.clock_started_at = None
        row.next_warning_at = None
    clock.advance(hours=24 * 30)
    assert await service.warnings.check_due() == 0
    assert (await service.queries.get(ticket.id)).warnings == ()
