"""Who works on a ticket: staff choose its department and grid (网格).

Not a status change: a timeline entry (``from == to``) records it, the resident is not told
(it is internal), and nothing is re-delivered — a ticket not yet delivered goes to the new
department; for one already at an external dispatch system the change is recorded here
only (a department return re-dispatches).
"""

from __future__ import annotations

import logging

from integrations.tickets.core import CoreService, add_event, locked_ticket, refused, snapshot
from integrations.tickets.errors import InvalidTicket
from integrations.tickets.fields import actor_kind, clean
from integrations.tickets.model import Ticket
from policies.tickets import assignment_refusal, timeline_assigned

__all__ = ["Assignment"]

log = logging.getLogger(__name__)


class Assignment(CoreService):
    """Changes a ticket's department and grid."""

    async def assign(
        self,
        ticket_id: str,
        *,
        department: str | None = None,
        grid: str | None = None,
        note: str | None = None,
        actor: str = "staff",
    ) -> Ticket:
        """Staff choose the department and/or grid responsible for a ticket.

        Raises :class:`IllegalTransition` unless work is still owed on the ticket (received,
        dispatched, in progress, reopened), :class:`InvalidTicket` when nothing changes.
        """
        department = clean(department, "department", required=False, limit=64) or None
        grid = clean(grid, "grid", required=False, limit=64) or None
        note = clean(note, "note", required=False) or None
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            refusal = assignment_refusal(row.status)
            if refusal is not None:
                raise refused(row, row.status, refusal)
            department = department if department != row.department else None
            grid = grid if grid != row.grid else None
            if not department and not grid:
                raise InvalidTicket(
                    "nothing to change: same department and grid",
                    text="部门和网格都没有变化，无需保存。",
                )
            row.department = department or row.department
            row.grid = grid or row.grid
            row.updated_at = now
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=timeline_assigned(department, grid, note),
            )
            ticket = await snapshot(session, row)
        log.info("ticket %s assigned by %s", ticket_id, actor_kind(actor))
        return ticket
