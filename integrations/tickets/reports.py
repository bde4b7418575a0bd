"""Statuses reported by a dispatch system (a poll or a webhook), applied to our tickets.

What a report does is :func:`policies.tickets.reported_change`: applied when the status
machine allows it, ignored otherwise (stale or out of order; repeats are no-ops);
``closed`` counts as ``resolved`` (closing is the resident's rating); ``rejected`` is a
department return (退单, :mod:`.returns`: reviewed above it), on a ticket no department
holds only noted for staff.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import DispatchEventRow, DispatchJobRow, TicketRow
from integrations.tickets.core import (
    CoreService,
    add_event,
    cancel_open_jobs,
    lock_ticket,
    record_change,
)
from integrations.tickets.errors import InvalidTicket
from integrations.tickets.fields import clean
from integrations.tickets.returns import return_ticket
from policies.tickets import (
    DISPATCH_DONE,
    STATUSES,
    UNSTATED_REASON,
    reported_change,
    timeline_downstream_return,
)

__all__ = ["EVENT_RETENTION", "EventOutcome", "StatusReports"]

log = logging.getLogger(__name__)

#: What became of a dispatch system's status event (:meth:`StatusReports.apply_status_event`).
EventOutcome = Literal["applied", "duplicate", "unknown"]
#: How long applied status events are remembered: far beyond the webhook's ±5-minute
#: replay window, so a sender retrying an event hours later is recognised too.
EVENT_RETENTION = timedelta(days=7)


class StatusReports(CoreService):
    """Applies dispatch systems' status reports, each event once."""

    async def apply_external_status(
        self,
        ticket_id: str | None,
        external_id: str | None,
        status: str,
        note: str | None,
        actor: str,
    ) -> bool:
        """A status reported by a dispatch system (poll or webhook); ``False`` when the
        ticket is unknown. The signature is the webhook's ``ApplyStatus``."""
        target, note = _reported(status, note)
        now = self.core.now()
        async with self.core.write() as session:
            row = await _find_for_external(session, ticket_id, external_id)
            if row is None:
                return False
            await self._apply(session, row, target, external_id, note, actor, now)
        self.core.notify()
        return True

    async def apply_status_event(
        self,
        event_id: str,
        ticket_id: str | None,
        external_id: str | None,
        status: str,
        note: str | None,
        actor: str,
    ) -> EventOutcome:
        """Like :meth:`apply_external_status`, once per ``event_id``: the event is recorded
        in the transaction that applies it (table ``dispatch_events``, kept
        :data:`EVENT_RETENTION`), so the same event again — a sender's retry, a replay after
        a restart — answers ``"duplicate"`` and changes nothing; ``"unknown"``: no such
        ticket (nothing recorded, so a retry once it exists is applied)."""
        target, note = _reported(status, note)
        now = self.core.now()
        try:
            async with self.core.write() as session:
                # The ticket's row lock first: a concurrent delivery of the same event waits
                # here and then sees this one's record.
                row = await _find_for_external(session, ticket_id, external_id)
                if await session.get(DispatchEventRow, event_id) is not None:
                    return "duplicate"
                if row is None:
                    return "unknown"
                await self._apply(session, row, target, external_id, note, actor, now)
                session.add(
                    DispatchEventRow(
                        event_id=event_id, ticket_id=row.id, status=status, received_at=now
                    )
                )
                await session.execute(
                    delete(DispatchEventRow).where(
                        DispatchEventRow.received_at < now - EVENT_RETENTION
                    )
                )
        except IntegrityError:
            # Two deliveries that found no ticket row to queue on (or raced on the insert):
            # the one that committed first applied it.
            async with self.core.read() as session:
                if await session.get(DispatchEventRow, event_id) is not None:
                    return "duplicate"
            raise
        self.core.notify()
        return "applied"

    async def _apply(
        self,
        session: AsyncSession,
        row: TicketRow,
        target: str,
        external_id: str | None,
        note: str | None,
        actor: str,
        now: datetime,
    ) -> None:
        if external_id is not None and row.external_id not in (None, external_id):
            log.info("ticket %s: report about an earlier dispatch ignored", row.id)
            return
        change = reported_change(row.status, target)
        if change == "return":
            await return_ticket(session, self.core, row, note or UNSTATED_REASON, actor, now)
        elif change == "note_return":
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=timeline_downstream_return(note),
            )
            row.updated_at = now
        elif change == "apply":
            record_change(session, self.core, row, target, actor=actor, note=note, now=now)
            if target in DISPATCH_DONE:
                await cancel_open_jobs(session, row.id, now, reason="resolved downstream")
        elif target != row.status:
            log.info("ticket %s: %s → %s reported by %s ignored", row.id, row.status,
                     target, actor)


def _reported(status: str, note: str | None) -> tuple[str, str | None]:
    target = "resolved" if status == "closed" else status
    if target not in STATUSES:
        raise InvalidTicket(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    return target, clean(note, "note", required=False) or None


async def _find_for_external(
    session: AsyncSession, ticket_id: str | None, external_id: str | None
) -> TicketRow | None:
    if ticket_id:
        return await lock_ticket(session, ticket_id)
    if not external_id:
        return None
    statement = select(TicketRow).where(TicketRow.external_id == external_id).with_for_update()
    row = (await session.execute(statement)).scalars().first()
    if row is not None:
        return row
    # An id of an earlier generation: known, but its news is stale.
    owner = (
        await session.execute(
            select(DispatchJobRow.ticket_id).where(DispatchJobRow.external_id == external_id)
        )
    ).scalars().first()
    return await lock_ticket(session, owner) if owner else None
