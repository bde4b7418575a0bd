"""The ticket read a resident's conversation makes most, as lean as a read can be.

A conversation asks "which of my tickets are open, and in what state?" (status questions,
ratings). It is answered with one statement of the few columns a reply shows, with no
timeline, no deliveries and no ORM objects: :meth:`TicketQueries.list_for_resident` loads
whole tickets (three statements), which staff screens need and a chat reply does not. (The
other read, "which phone did I give last time?", is already one column in one statement:
:meth:`TicketQueries.last_phone`.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from integrations.db.models import TicketRow
from integrations.tickets.core import CoreService
from policies.tickets import OPEN_STATUSES

__all__ = ["ResidentLookups", "TicketSummary"]

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
    #: after 办结: the answer to "was it solved?" (``None``: not given yet)
    solved: bool | None
    #: the 回访's state (``asked``: a question waits for the resident)
    follow_up: str | None


class ResidentLookups(CoreService):
    """Reads for the resident's own conversation (``tickets.lookups``)."""

    async def tickets(
        self, openid: str, *, open_only: bool = True, limit: int = 20
    ) -> list[TicketSummary]:
        """The resident's tickets, newest first, as :meth:`TicketQueries.list_for_resident`
        orders and filters them (``open_only``: not closed or rejected)."""
        statement = select(
            _TICKETS.id,
            _TICKETS.category,
            _TICKETS.status,
            _TICKETS.department,
            _TICKETS.urgent,
            _TICKETS.solved,
            _TICKETS.follow_up,
        ).where(_TICKETS.openid == openid)
        if open_only:
            statement = statement.where(_TICKETS.status.in_(_OPEN))
        statement = statement.order_by(_TICKETS.created_at.desc(), _TICKETS.id.desc()).limit(
            max(1, min(limit, 500))
        )
        async with self.core.read() as session:
            rows = (await session.execute(statement)).all()
        return [TicketSummary(*row) for row in rows]
