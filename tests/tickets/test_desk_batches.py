"""The embedded desk records the assignments of one worker pass in one transaction, and one
assignment the database refuses holds back none of the others."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from sqlalchemy import event, select

from integrations.db.models import DeskAssignmentRow
from integrations.dispatch.base import DispatchRequest, DispatchUnavailable
from integrations.dispatch.embedded import EmbeddedDesk
from integrations.tickets import TicketService
from tests.tickets.conftest import MakeWorker, create_ticket


def _desk_transactions(service: TicketService) -> list[Any]:
    """The transactions the desk's assignments were written in, as they happen."""
    seen: list[Any] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO desk_assignments"):
            transaction = conn.get_transaction()
            if not any(transaction is t for t in seen):
                seen.append(transaction)

    event.listen(service.engine.sync_engine, "before_cursor_execute", note)
    return seen


async def test_one_pass_of_deliveries_is_one_desk_transaction(
    service: TicketService, desk: EmbeddedDesk, make_worker: MakeWorker
) -> None:
    tickets = [
        await create_ticket(service, openid=f"oResident{n:016d}", location=f"幸福小区{n}号楼")
        for n in range(5)
    ]
    transactions = _desk_transactions(service)
    worker = make_worker(service, desk)

    assert await worker.deliver_due() == 5

    assert len(transactions) == 1
    for ticket in tickets:
        delivered = await service.queries.get(ticket.id)
        assert delivered.status == "dispatched"
        assert delivered.delivery.external_id.startswith("DESK-")
    # A retried delivery gets the first assignment back, batched or not.
    again = await asyncio.gather(*(desk.submit(_request(t)) for t in tickets))
    assert [r.external_id for r in again] == [
        (await service.queries.get(t.id)).delivery.external_id for t in tickets
    ]
    async with service.core.read() as session:
        rows = (await session.execute(select(DeskAssignmentRow.ticket_id))).scalars().all()
    assert sorted(rows) == sorted(t.id for t in tickets)


async def test_an_assignment_the_database_refuses_holds_back_no_other(
    service: TicketService, desk: EmbeddedDesk
) -> None:
    good = [await create_ticket(service, location=f"幸福小区{n}号楼") for n in range(2)]
    # A ticket that is not (or no longer) in the database: its row breaks a foreign key.
    ghost = dataclasses.replace(_request(good[0]), ticket_id="20991231-9999",
                                idempotency_key="ghost:1")

    answers = await asyncio.gather(
        desk.submit(_request(good[0])), desk.submit(ghost), desk.submit(_request(good[1])),
        return_exceptions=True,
    )

    assert isinstance(answers[1], DispatchUnavailable)
    assert all(not isinstance(a, BaseException) for a in (answers[0], answers[2]))
    async with service.core.read() as session:
        rows = (await session.execute(select(DeskAssignmentRow.ticket_id))).scalars().all()
    assert sorted(rows) == sorted(t.id for t in good)


def _request(ticket: Any) -> DispatchRequest:
    """The request the outbox hands the desk for ``ticket``."""
    job = ticket.delivery
    return DispatchRequest(
        ticket_id=ticket.id,
        idempotency_key=job.idempotency_key,
        category=ticket.category,
        description=ticket.description,
        location=ticket.location,
        phone=ticket.phone,
        urgent=ticket.urgent,
        department=ticket.department,
        level=ticket.level,
    )
