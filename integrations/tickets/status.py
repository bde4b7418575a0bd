"""Status changes by staff and systems (已派单 → 处理中 → 已办结, or 已退回 with a reason).

The status machine is :func:`policies.tickets.transition_refusal`; this module applies it
under the ticket's row lock, writes the timeline entry and the resident's push with the
change, and cancels deliveries a finished ticket no longer needs.
"""

from __future__ import annotations

import logging

from integrations.tickets.core import (
    CoreService,
    cancel_open_jobs,
    locked_ticket,
    record_change,
    refused,
    snapshot,
)
from integrations.tickets.fields import actor_kind, clean
from integrations.tickets.model import Ticket
from policies.tickets import DISPATCH_DONE, transition_refusal

__all__ = ["StatusChanges"]

log = logging.getLogger(__name__)


class StatusChanges(CoreService):
    """Moves tickets through the status machine (not ratings: :mod:`.rating`)."""

    async def transition(
        self, ticket_id: str, status: str, *, note: str | None = None, actor: str = "system"
    ) -> Ticket:
        """Move a ticket to ``status`` by the rules of :mod:`policies.tickets`.

        Raises :class:`InvalidTicket` (unknown status; rejection without a note),
        :class:`TicketNotFound`, :class:`IllegalTransition` (names from and to); both carry
        the rules' Chinese wording in ``text``.
        """
        note = clean(note, "note", required=False) or None
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            refusal = transition_refusal(row.status, status, note=note)
            if refusal is not None:
                raise refused(row, status, refusal)
            record_change(session, self.core, row, status, actor=actor, note=note, now=now)
            if status in DISPATCH_DONE:
                await cancel_open_jobs(session, row.id, now, reason=f"ticket {status} first")
            ticket = await snapshot(session, row)
        self.core.notify()
        log.info("ticket %s → %s by %s", ticket_id, status, actor_kind(actor))
        return ticket
