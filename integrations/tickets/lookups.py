"""The two ticket reads a resident's conversation makes, as lean as a read can be.

A conversation asks "which of my tickets are open, and in what state?" (status questions,
ratings) and "which phone did I give last time?" (offered for reuse). Both are answered
with one statement of the few columns needed, with no timeline, no deliveries and no ORM
objects: :meth:`TicketService.list_for_resident` loads whole tickets (three statements),
which staff screens need and a chat reply does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from integrations.db.models import TicketRow
from integrations.tickets.core import Core
from policies.tickets import OPEN_STATUSES

__all__ = ["TicketSummary", "last_phone", "resident_tickets"]

_TICKETS = TicketRow.__table__.c
_OPEN = sorted(OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class TicketSummary:
    """What a chat reply shows of a ticket."""

    id: str
    category: str
    status: str
    department: str
    urgent: bool


async def resident_tickets(
    core: Core, openid: str, *, open_only: bool = True, limit: int = 20
) -> list[TicketSummary]:
    """The resident's tickets, newest first, as :meth:`TicketService.list_for_resident`
    orders and filters them (``open_only``: not closed or rejected)."""
    statement = select(
        _TICKETS.id, _TICKETS.category, _TICKETS.status, _TICKETS.department, _TICKETS.urgent
    ).where(_TICKETS.openid == openid)
    if open_only:
        statement = statement.where(_TICKETS.status.in_(_OPEN))
    statement = statement.order_by(_TICKETS.created_at.desc(), _TICKETS.id.desc()).limit(
        max(1, min(limit, 500))
    )
    async with core.read() as session:
        rows = (await session.execute(statement)).all()
    return [TicketSummary(*row) for row in rows]


async def last_phone(core: Core, openid: str) -> str | None:
    """The phone of the resident's latest ticket that has one."""
    statement = (
        select(_TICKETS.phone)
        .where(_TICKETS.openid == openid, _TICKETS.phone != "")
        .order_by(_TICKETS.created_at.desc(), _TICKETS.id.desc())
        .limit(1)
    )
    async with core.read() as session:
        phone: str | None = (await session.execute(statement)).scalar_one_or_none()
    return phone
