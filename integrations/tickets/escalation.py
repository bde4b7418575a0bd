"""Escalation (升级): a ticket goes one level up (社区 → 街道 → 区 → 市) with new clocks.

Two things escalate a ticket: staff (督办, with a reason) and a passed 办结 deadline in
working time (:meth:`Escalation.escalate_overdue`, run by the outbox worker after the
warnings, :mod:`.warnings`). :func:`redispatch` is the one place a ticket gets a new
delivery (re-routed or sent back after a return, :mod:`.returns`; reopened by the
resident, :mod:`.rating`). The rule is :func:`policies.tickets.escalation_refusal`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import TicketRow
from integrations.tickets.core import (
    Core,
    CoreService,
    add_event,
    cancel_open_jobs,
    enqueue_dispatch,
    escalate,
    locked_ticket,
    record_change,
    refused,
    snapshot,
)
from integrations.tickets.fields import actor_kind, clean
from integrations.tickets.model import Ticket
from policies.tickets import (
    AT_DEPARTMENT,
    escalation_refusal,
    timeline_overdue,
    timeline_staff_escalation,
)

__all__ = ["Escalation", "redispatch"]

log = logging.getLogger(__name__)


class Escalation(CoreService):
    """Escalates tickets: by staff, past their 办结 deadline."""

    async def escalate(self, ticket_id: str, reason: str, *, actor: str = "staff") -> Ticket:
        """Staff escalate an open ticket one level (督办) with a reason: new clocks and a
        timeline entry; the status and the dispatch stay as they are.

        Raises :class:`IllegalTransition` unless work is still owed on the ticket or when it
        is already at the city level, :class:`InvalidTicket` without a reason.
        """
        reason = clean(reason, "reason", required=True)
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            refusal = escalation_refusal(row.status, row.level)
            if refusal is not None:
                raise refused(row, row.status, refusal)
            wording = escalate(self.core, row, now)
            row.updated_at = now
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=timeline_staff_escalation(reason, wording),
            )
            ticket = await snapshot(session, row)
        log.info("ticket %s escalated by %s", ticket_id, actor_kind(actor))
        return ticket

    async def escalate_overdue(self, *, backend: str = "embedded", limit: int = 100) -> int:
        """Escalate tickets at ``backend``'s desk that passed their 办结 deadline (working
        time): one level up (at the city level: city supervision), new clocks, a timeline
        entry.

        Several workers may run this at once: the conditional re-check under the row lock
        escalates each ticket once per deadline.
        """
        now = self.core.now()
        due = and_(
            TicketRow.dispatch_backend == backend,
            TicketRow.status.in_(AT_DEPARTMENT),
            TicketRow.sla_due_at < now,
        )
        async with self.core.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(TicketRow.id).where(due).order_by(TicketRow.sla_due_at).limit(limit)
                    )
                ).scalars()
            )
        done = 0
        for ticket_id in ids:
            async with self.core.write() as session:
                row = (
                    await session.execute(
                        select(TicketRow).where(TicketRow.id == ticket_id, due).with_for_update()
                    )
                ).scalar_one_or_none()
                if row is None:
                    continue  # another worker got there first, or staff moved it
                deadline = f"{row.sla_due_at.astimezone(self.core.tz):%m-%d %H:%M}"
                wording = escalate(self.core, row, now)
                row.updated_at = now
                add_event(
                    session, row, at=now, actor="system", from_status=row.status,
                    to_status=row.status, note=timeline_overdue(deadline, wording),
                )
                done += 1
        if done:
            log.info("escalated %d overdue tickets", done)
        return done


async def redispatch(
    session: AsyncSession,
    core: Core,
    row: TicketRow,
    target: str,
    *,
    actor: str,
    note: Callable[[str], str],
    now: datetime,
    escalated: bool = False,
    level_up: bool = True,
    rerouted: bool = False,
    push: bool = True,
) -> None:
    """Move the locked ``row`` to ``target`` with a new delivery (the next generation,
    replacing deliveries of earlier ones still waiting) and new clocks — one level up
    unless not ``level_up``. ``note`` words the timeline entry from the escalation's
    wording (empty without one)."""
    wording = escalate(core, row, now) if level_up else ""
    row.generation += 1
    core.clocks.start(row, now)  # a new dispatch: new clocks, nothing signed for yet
    record_change(
        session, core, row, target, actor=actor, note=note(wording), now=now,
        escalated=escalated, rerouted=rerouted, push=push,
    )
    await cancel_open_jobs(
        session, row.id, now, reason="superseded by a re-dispatch",
        below_generation=row.generation,
    )
    enqueue_dispatch(session, row, now)
