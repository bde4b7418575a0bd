"""Status events pushed by dispatch systems are applied once per event id, durably (issue 13:
a replayed ``rejected`` escalated a ticket twice), on SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.db.models import DispatchEventRow
from integrations.tickets import TicketService
from tests.tickets.conftest import MakeService, MakeWorker, create_ticket
from tests.tickets.fakes import FakeBackend, FakeClock

ACTOR = "dispatch-webhook"


async def _events(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(DispatchEventRow))).scalar_one()
        )


async def _dispatched(service: TicketService, backend: FakeBackend, make_worker: MakeWorker) -> str:
    ticket = await create_ticket(service)
    await make_worker(service, backend).run_once()
    assert (await service.queries.get(ticket.id)).status == "dispatched"
    return str(ticket.id)


async def test_an_event_is_applied_once_and_unknown_tickets_are_not_recorded(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, engine: AsyncEngine
) -> None:
    ticket_id = await _dispatched(service, backend, make_worker)

    apply = service.reports.apply_status_event
    assert await apply("e1", ticket_id, None, "rejected", "退回", ACTOR) == "applied"
    assert await apply("e1", ticket_id, None, "rejected", "退回", ACTOR) == "duplicate"
    assert await apply("e1", None, "EXT-1", "rejected", None, ACTOR) == "duplicate"
    assert await apply("e2", "20261123-9999", None, "resolved", None, ACTOR) == "unknown"

    ticket = await service.queries.get(ticket_id)
    assert ticket.status == "returned"  # returned once (退单), waiting for review
    assert len(await service.returns.pending()) == 1
    assert [e.actor for e in ticket.history].count(ACTOR) == 1
    assert await _events(engine) == 1  # the unknown ticket's event was not recorded


async def test_two_processes_delivering_one_event_at_once_apply_it_once(
    db_url: str,
    engines: Callable[[str], AsyncEngine],
    make_service: MakeService,
    backend: FakeBackend,
    make_worker: MakeWorker,
) -> None:
    first, second = make_service(engines(db_url)), make_service(engines(db_url))
    ticket_id = await _dispatched(first, backend, make_worker)

    outcomes = await asyncio.gather(
        first.reports.apply_status_event("e-race", ticket_id, None, "rejected", "退回", ACTOR),
        second.reports.apply_status_event("e-race", ticket_id, None, "rejected", "退回", ACTOR),
    )
    assert sorted(outcomes) == ["applied", "duplicate"]
    ticket = await first.queries.get(ticket_id)
    assert ticket.status == "returned"
    assert len(await first.returns.pending()) == 1
    assert [e.actor for e in ticket.history].count(ACTOR) == 1


async def test_recorded_events_are_pruned_after_a_week(
    service: TicketService,
    backend: FakeBackend,
    make_worker: MakeWorker,
    engine: AsyncEngine,
    clock: FakeClock,
) -> None:
    ticket_id = await _dispatched(service, backend, make_worker)
    apply = service.reports.apply_status_event
    assert await apply("old", ticket_id, None, "in_progress", None, ACTOR) == "applied"
    clock.advance(hours=6 * 24)
    assert await apply("mid", ticket_id, None, "in_progress", None, ACTOR) == "applied"
    assert await _events(engine) == 2
    clock.advance(hours=1 * 24 + 1)
    assert await apply("new", ticket_id, None, "in_progress", None, ACTOR) == "applied"
    assert await _events(engine) == 2  # "old" (a week and an hour ago) is gone
