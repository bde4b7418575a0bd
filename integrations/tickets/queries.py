"""Reading tickets: one by id, lists with filters and search, a resident's own tickets."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from integrations.db.models import TicketRow
from integrations.tickets.core import CoreService, load_tickets
from integrations.tickets.errors import InvalidTicket, TicketNotFound
from integrations.tickets.model import Ticket
from policies.tickets import OPEN_STATUSES, STATUSES, WORKING_STATUSES

__all__ = ["TicketFilter", "TicketQueries"]


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """Which tickets to list: every given field must match (``None``: any).

    ``overdue``: past the deadline while work is still owed (or not). ``search``: every
    whitespace-separated word must occur in the ticket's id, its description or its
    location (case-insensitive substring, wildcards taken literally).
    """

    openid: str | None = None
    statuses: tuple[str, ...] | None = None
    category: str | None = None
    urgent: bool | None = None
    overdue: bool | None = None
    department: str | None = None
    search: str | None = None


class TicketQueries(CoreService):
    """Snapshots of tickets (with timelines and latest deliveries), never live rows."""

    async def find(self, ticket_id: str) -> Ticket | None:
        async with self.core.read() as session:
            row = await session.get(TicketRow, ticket_id)
            if row is None:
                return None
            return (await load_tickets(session, [row]))[0]

    async def get(self, ticket_id: str) -> Ticket:
        """The ticket; raises :class:`TicketNotFound`."""
        ticket = await self.find(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    async def list_tickets(
        self, where: TicketFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Ticket]:
        """Tickets matching ``where``, newest first (``limit`` at most 500)."""
        statement = (
            select(TicketRow)
            .where(*self._conditions(where or TicketFilter()))
            .order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        )
        async with self.core.read() as session:
            rows = list((await session.execute(statement)).scalars())
            return await load_tickets(session, rows)

    async def count_tickets(self, where: TicketFilter | None = None) -> int:
        """How many tickets :meth:`list_tickets` would page through with ``where``."""
        statement = (
            select(func.count())
            .select_from(TicketRow)
            .where(*self._conditions(where or TicketFilter()))
        )
        async with self.core.read() as session:
            return int((await session.execute(statement)).scalar_one())

    def _conditions(self, where: TicketFilter) -> list[ColumnElement[bool]]:
        for status in where.statuses or ():
            if status not in STATUSES:
                raise InvalidTicket(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        conditions: list[ColumnElement[bool]] = []
        if where.openid is not None:
            conditions.append(TicketRow.openid == where.openid)
        if where.statuses is not None:
            conditions.append(TicketRow.status.in_(where.statuses))
        if where.category is not None:
            conditions.append(TicketRow.category == where.category)
        if where.urgent is not None:
            conditions.append(TicketRow.urgent.is_(where.urgent))
        if where.overdue is not None:
            late = and_(
                TicketRow.status.in_(WORKING_STATUSES), TicketRow.sla_due_at < self.core.now()
            )
            conditions.append(late if where.overdue else not_(late))
        if where.department is not None:
            conditions.append(TicketRow.department == where.department)
        for word in (where.search or "").split()[:10]:
            word = word[:100]
            conditions.append(
                or_(
                    TicketRow.id.icontains(word, autoescape=True),
                    TicketRow.description.icontains(word, autoescape=True),
                    TicketRow.location.icontains(word, autoescape=True),
                )
            )
        return conditions

    async def list_for_resident(
        self, openid: str, open_only: bool = True, limit: int = 20
    ) -> list[Ticket]:
        """A resident's tickets, newest first; ``open_only``: not closed or rejected
        (resolved ones are included: they wait for the resident's rating)."""
        statuses = tuple(OPEN_STATUSES) if open_only else None
        return await self.list_tickets(TicketFilter(openid, statuses), limit=limit)

