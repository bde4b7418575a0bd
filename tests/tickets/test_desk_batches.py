"""The embedded desk records the assignments of one worker pass in one transaction, and one
assignment the database refuses holds back none of the others."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from sqlalchemy import event, select

from core.errors import DatabaseUnavailable
from integrations.db.models import DeskAssignmentRow
from integrations.dispatch.base import DispatchReceipt, DispatchRequest, DispatchUnavailable
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


async def _assigned(service: TicketService) -> list[str]:
    async with service.core.read() as session:
        rows = (await session.execute(select(DeskAssignmentRow.ticket_id))).scalars().all()
    return sorted(rows)


async def test_one_pass_of_deliveries_is_one_desk_transaction(
    service: TicketService, desk: EmbeddedDesk, make_worker: MakeWorker
) -> None:
    tickets = [
        await create_ticket(service, openid=f"oResident{n:016d}", location=f"幸福小区{n}号楼")
        for n in range(5)
    ]
    submitted: list[DispatchRequest] = []
    submit = desk.submit

    async def recording(request: DispatchRequest) -> DispatchReceipt:
        submitted.append(request)
        return await submit(request)

    desk.submit = recording  # type: ignore[method-assign]
    transactions = _desk_transactions(service)

    assert await make_worker(service, desk).deliver_due() == 5

    assert len(transactions) == 1
    external_ids = []
    for ticket in tickets:
        delivered = await service.queries.get(ticket.id)
        assert delivered.status == "dispatched"
        external_ids.append(delivered.delivery.external_id)
    # A delivery made again (a retry after a lost answer) gets the first assignment back.
    again = await asyncio.gather(*(submit(request) for request in submitted))
    assert sorted(r.external_id for r in again) == sorted(external_ids)
    assert await _assigned(service) == sorted(t.id for t in tickets)


async def test_an_assignment_the_database_refuses_holds_back_no_other(
    service: TicketService, desk: EmbeddedDesk
) -> None:
    good = [await create_ticket(service, location=f"幸福小区{n}号楼") for n in range(2)]
    first, second = [job.request for job in await service.outbox.claim("w-test", 10)]
    assert first is not None and second is not None
    # A ticket that is not (or no longer) in the database: its row breaks a foreign key.
    ghost = dataclasses.replace(first, ticket_id="20991231-9999", idempotency_key="ghost:1")

    answers = await asyncio.gather(
        desk.submit(first), desk.submit(ghost), desk.submit(second), return_exceptions=True
    )

    assert isinstance(answers[1], DispatchUnavailable)
    assert isinstance(answers[0], DispatchReceipt) and isinstance(answers[2], DispatchReceipt)
    assert await _assigned(service) == sorted(t.id for t in good)


async def test_a_database_away_fails_the_whole_pass_at_once(
    service: TicketService, desk: EmbeddedDesk
) -> None:
    for n in range(3):
        await create_ticket(service, location=f"幸福小区{n}号楼")
    requests = [job.request for job in await service.outbox.claim("w-test", 10)]
    tries = 0

    async def away(batch: list[dict[str, Any]]) -> list[Any]:
        nonlocal tries
        tries += 1
        raise DatabaseUnavailable("the database cannot be reached")

    desk._insert = away  # type: ignore[method-assign]
    answers = await asyncio.gather(
        *(desk.submit(r) for r in requests if r is not None), return_exceptions=True
    )

    # One try, not one more per assignment (each would wait for its own timeout).
    assert tries == 1
    assert len(answers) == 3 and all(isinstance(a, DispatchUnavailable) for a in answers)
