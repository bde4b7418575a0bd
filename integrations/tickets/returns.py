"""退单 and 审定: a department returns a ticket that is not theirs; the level above decides.

A department holding a ticket (dispatched, in progress) returns it with a reason, and may
name the department it believes is right (:meth:`Returns.department_return`; a dispatch
system reporting ``rejected`` does the same, :mod:`.reports`). The ticket becomes
``returned`` (退单待审定): its clocks stop, deliveries still waiting are cancelled, and a
``routing_disputes`` row waits in the review queue. The resident is not told: nothing has
changed for them yet.

The review (:meth:`Returns.review`, 审定) either re-routes the ticket to another department
(and, if wrong, another category) — a new dispatch with new clocks, and the resident is told
who handles it now — or sends it back: the return does not stand, the same department gets
it again with new clocks. Every step is on the timeline. A decided dispute is a labelled
example of routing (this text, of this category, belongs to that department): the console's
training review lists them (:meth:`Returns.decided`), and :meth:`Returns.bounce_counts`
reports how often each department returned tickets and how often the return stood.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import RoutingDisputeRow, TicketRow
from integrations.tickets.core import (
    Core,
    CoreService,
    cancel_open_jobs,
    locked_ticket,
    record_change,
    refused,
    snapshot,
)
from integrations.tickets.errors import InvalidTicket
from integrations.tickets.escalation import redispatch
from integrations.tickets.fields import actor_kind, clean
from integrations.tickets.model import Ticket, from_row
from policies.tickets import (
    return_refusal,
    review_refusal,
    timeline_department_return,
    timeline_review,
)

__all__ = ["BounceCounts", "Returns", "RoutingDispute", "return_ticket"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoutingDispute:
    """A return and its review; ``status``: ``pending``, ``rerouted``, ``sent_back``."""

    id: int
    ticket_id: str
    generation: int
    category: str
    text: str
    from_department: str
    suggested_department: str | None
    reason: str
    returned_by: str
    returned_at: datetime
    status: str
    to_department: str | None
    to_category: str | None
    review_note: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


@dataclass(frozen=True, slots=True)
class BounceCounts:
    """How often a department returned tickets (退单) and what the reviews decided:
    ``upheld`` re-routed elsewhere (the routing was wrong), ``sent_back`` (it was theirs),
    ``pending`` still waiting."""

    department: str
    returned: int
    upheld: int
    sent_back: int
    pending: int


async def return_ticket(
    session: AsyncSession,
    core: Core,
    row: TicketRow,
    reason: str,
    actor: str,
    now: datetime,
    suggested: str | None = None,
) -> RoutingDisputeRow:
    """The return of the locked ``row`` in the caller's transaction (a department's, or a
    dispatch system reporting ``rejected``)."""
    refusal = return_refusal(row.status)
    if refusal is not None:
        raise refused(row, "returned", refusal)
    dispute = RoutingDisputeRow(
        ticket_id=row.id,
        generation=row.generation,
        category=row.category,
        text=row.description,
        from_department=row.department,
        suggested_department=suggested,
        reason=reason,
        returned_by=actor[:128],
        returned_at=now,
        status="pending",
    )
    session.add(dispute)
    record_change(
        session, core, row, "returned", actor=actor, now=now, push=False,
        note=timeline_department_return(row.department, reason, suggested),
    )
    await cancel_open_jobs(session, row.id, now, reason="returned by the department")
    return dispute


class Returns(CoreService):
    """Departments' returns (退单) and their reviews (审定)."""

    async def department_return(
        self,
        ticket_id: str,
        reason: str,
        *,
        actor: str = "staff",
        suggested_department: str | None = None,
    ) -> Ticket:
        """The department holding the ticket returns it with ``reason`` (and the department
        it believes is right, if it knows). Raises :class:`InvalidTicket` without a reason,
        :class:`IllegalTransition` unless the ticket sits at a department."""
        reason = clean(reason, "reason", required=True)
        suggested = clean(suggested_department, "department", required=False, limit=64) or None
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            await return_ticket(session, self.core, row, reason, actor, now, suggested)
            ticket = await snapshot(session, row)
        self.core.notify()
        log.info("ticket %s returned by %s", ticket_id, actor_kind(actor))
        return ticket

    async def review(
        self,
        ticket_id: str,
        decision: str,
        *,
        actor: str = "staff",
        department: str | None = None,
        category: str | None = None,
        note: str | None = None,
    ) -> Ticket:
        """Decide the pending return: ``reroute`` to ``department`` (and ``category``, if
        the category was wrong too) or ``send_back`` to the department that returned it.

        Raises :class:`InvalidTicket` (unknown decision or category, no other department to
        re-route to), :class:`IllegalTransition` (no return waits for review).
        """
        department = clean(department, "department", required=False, limit=64) or None
        category = (category or "").strip() or None
        note = clean(note, "note", required=False) or None
        if category is not None and category not in self.core.taxonomy.report_ids:
            raise InvalidTicket(
                f"unknown category {category!r}: use a report.* id of the taxonomy",
                text="请从列表中选择类别。",
            )
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            refusal = review_refusal(
                row.status, decision, current_department=row.department, department=department
            )
            if refusal is not None:
                raise refused(row, "dispatched", refusal)
            dispute = await self._pending(session, row.id)
            before = row.department
            rerouted = decision == "reroute"
            if rerouted:
                assert department is not None  # review_refusal checked it
                row.department = department
                if category is not None and category != row.category:
                    row.category = category
                    row.urgent = row.urgent or self.core.taxonomy.is_urgent(category)
                else:
                    category = None
            else:
                category = None
            wording = timeline_review(
                decision,
                from_department=before,
                to_department=row.department,
                note=note,
                category_label=self.core.category_label(category) if category else None,
            )
            # Sent back: nothing changes for the resident, who is not told.
            await redispatch(
                session, self.core, row, "dispatched", actor=actor, now=now,
                note=lambda _: wording, level_up=False, rerouted=rerouted, push=rerouted,
            )
            if dispute is not None:
                dispute.status = "rerouted" if rerouted else "sent_back"
                dispute.to_department = row.department
                dispute.to_category = row.category
                dispute.review_note = note
                dispute.reviewed_by = actor[:128]
                dispute.reviewed_at = now
            ticket = await snapshot(session, row)
        self.core.notify()
        log.info("return of ticket %s reviewed: %s", ticket_id, decision)
        return ticket

    @staticmethod
    async def _pending(session: AsyncSession, ticket_id: str) -> RoutingDisputeRow | None:
        return (
            await session.execute(
                select(RoutingDisputeRow)
                .where(
                    RoutingDisputeRow.ticket_id == ticket_id,
                    RoutingDisputeRow.status == "pending",
                )
                .order_by(RoutingDisputeRow.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    # -- for the console and reports ---------------------------------------------------------

    async def pending(self, *, limit: int = 100) -> list[RoutingDispute]:
        """Returns waiting for review, oldest first (the review queue)."""
        return await self._list(
            select(RoutingDisputeRow)
            .where(RoutingDisputeRow.status == "pending")
            .order_by(RoutingDisputeRow.id)
            .limit(limit)
        )

    async def decided(self, *, limit: int = 100) -> list[RoutingDispute]:
        """Reviewed returns, newest first: labelled examples of routing."""
        return await self._list(
            select(RoutingDisputeRow)
            .where(RoutingDisputeRow.status != "pending")
            .order_by(RoutingDisputeRow.id.desc())
            .limit(limit)
        )

    async def get(self, dispute_id: int) -> RoutingDispute | None:
        async with self.core.read() as session:
            row = await session.get(RoutingDisputeRow, dispute_id)
            return from_row(RoutingDispute, row) if row is not None else None

    async def of_ticket(self, ticket_id: str) -> list[RoutingDispute]:
        return await self._list(
            select(RoutingDisputeRow)
            .where(RoutingDisputeRow.ticket_id == ticket_id)
            .order_by(RoutingDisputeRow.id)
        )

    async def _list(self, statement: object) -> list[RoutingDispute]:
        async with self.core.read() as session:
            rows = (await session.execute(statement)).scalars()  # type: ignore[call-overload]
            return [from_row(RoutingDispute, r) for r in rows]

    async def bounce_counts(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[BounceCounts]:
        """Returns per department in [since, until), most returned first."""
        statement = select(
            RoutingDisputeRow.from_department, RoutingDisputeRow.status, func.count()
        ).group_by(RoutingDisputeRow.from_department, RoutingDisputeRow.status)
        if since is not None:
            statement = statement.where(RoutingDisputeRow.returned_at >= since)
        if until is not None:
            statement = statement.where(RoutingDisputeRow.returned_at < until)
        tally: dict[str, dict[str, int]] = {}
        async with self.core.read() as session:
            for department, status, count in (await session.execute(statement)).all():
                tally.setdefault(department, {})[status] = int(count)
        rows = [
            BounceCounts(
                department=department,
                returned=sum(counts.values()),
                upheld=counts.get("rerouted", 0),
                sent_back=counts.get("sent_back", 0),
                pending=counts.get("pending", 0),
            )
            for department, counts in tally.items()
        ]
        return sorted(rows, key=lambda r: (-r.returned, r.department))
