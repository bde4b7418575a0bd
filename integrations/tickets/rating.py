"""After 办结: the resident's two answers (解决, then 满意), the supervisor review, 回访.

Two questions, asked separately after a ticket is resolved (the push asks the first):

* **解决** — :meth:`Rating.answer_solved`. Not solved: the ticket reopens to the same
  department, with the resident's words on the timeline and a new delivery with new clocks.
  Solved: it waits for the second answer.
* **满意** — :meth:`Rating.rate`. 满意 / 基本满意 close the ticket; 不满意 after "solved"
  closes it too but flags it for a supervisor's review (``supervision = pending``,
  :meth:`Rating.supervise`). A rating given without the 解决 answer (a staff call-back, a
  resident answering the old way) reads 满意 / 基本满意 as solved and 不满意 as not solved:
  reopened one level up, as before.

A closed ticket of a problem class that tends to come back (``follow_up_categories`` of
the SLA file) is asked about again ``INTAKE_FOLLOW_UP_DAYS`` later (回访,
:meth:`Rating.send_follow_ups`, run by the worker); "又出现了" files a new ticket linked to
it (:meth:`Rating.answer_follow_up` returns what to file).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import TicketRow
from integrations.notify.queue import enqueue_push
from integrations.tickets.core import (
    Core,
    CoreService,
    add_event,
    locked_ticket,
    record_change,
    refused,
    snapshot,
)
from integrations.tickets.errors import IllegalTransition, InvalidTicket, TicketNotFound
from integrations.tickets.escalation import redispatch
from integrations.tickets.fields import clean
from integrations.tickets.model import Ticket
from policies.tickets import (
    RATINGS,
    Refusal,
    follow_up_push_text,
    rating_outcome,
    rating_refusal,
    status_template_fields,
    timeline_follow_up,
    timeline_rated,
    timeline_solved,
    timeline_supervised,
)

__all__ = ["Rating"]

log = logging.getLogger(__name__)


def _schedule_follow_up(core: Core, row: TicketRow, now: datetime) -> None:
    """A 回访 for a closed ticket of a problem class that tends to come back."""
    days = core.config.follow_up_days
    if days and row.openid and row.category in core.sla.follow_up_categories:
        row.follow_up_at = now + timedelta(days=days)
        row.follow_up = "due"


class Rating(CoreService):
    """The resident's answers after 办结 (on WeChat, or taken by staff on a call-back)."""

    async def _locked(
        self, session: AsyncSession, ticket_id: str, openid: str | None
    ) -> TicketRow:
        row = await locked_ticket(session, ticket_id)
        if openid is not None and row.openid != openid:
            raise TicketNotFound(ticket_id)
        return row

    def _who(self, row: TicketRow, actor: str | None) -> str:
        return actor or (f"resident:{row.openid}" if row.openid else "staff")

    async def answer_solved(
        self,
        ticket_id: str,
        solved: bool,
        words: str | None = None,
        *,
        openid: str | None = None,
        actor: str | None = None,
    ) -> Ticket:
        """The answer to "was it solved?". Not solved reopens the ticket to the same
        department (``words``: what the resident said, kept on the timeline).

        Raises :class:`TicketNotFound`, :class:`IllegalTransition` (not resolved, or
        answered already).
        """
        words = clean(words, "words", required=False, resident_words=True) or None
        now = self.core.now()
        async with self.core.write() as session:
            row = await self._locked(session, ticket_id, openid)
            refusal = rating_refusal(row.status)
            if refusal is None and row.solved is not None:
                refusal = Refusal(
                    "the resident said already whether it was solved", "群众已经回答过是否解决。"
                )
            if refusal is not None:
                raise refused(row, "reopened" if not solved else "closed", refusal)
            who = self._who(row, actor)
            note = timeline_solved(solved, words)
            if solved:
                row.solved = True
                row.updated_at = now
                add_event(
                    session, row, at=now, actor=who, from_status=row.status,
                    to_status=row.status, note=note,
                )
            else:
                row.solved = False
                await redispatch(
                    session, self.core, row, "reopened", actor=who, now=now,
                    note=lambda _: note, level_up=False,
                )
            ticket = await snapshot(session, row)
        self.core.notify()
        log.info("ticket %s: solved=%s", ticket_id, solved)
        return ticket

    async def rate(
        self,
        ticket_id: str,
        rating: str,
        reason: str | None = None,
        *,
        openid: str | None = None,
        actor: str | None = None,
    ) -> Ticket:
        """The satisfaction answer (评价) of a resolved ticket, with the resident's
        ``reason`` if given (see the module docstring for what each answer does).

        ``openid``: the rating must come from the ticket's resident (else not found).
        Raises :class:`InvalidTicket` (unknown rating), :class:`TicketNotFound`,
        :class:`IllegalTransition` (not resolved).
        """
        if rating not in RATINGS:
            raise InvalidTicket(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
        reason = clean(reason, "reason", required=False, resident_words=True) or None
        now = self.core.now()
        async with self.core.write() as session:
            row = await self._locked(session, ticket_id, openid)
            target = "closed" if row.solved else rating_outcome(rating)
            refusal = rating_refusal(row.status)
            if refusal is not None:
                raise refused(row, target, refusal)
            who = self._who(row, actor)
            row.rating, row.rating_reason = rating, reason
            if target == "reopened":
                row.solved = False
                await redispatch(
                    session, self.core, row, target, actor=who, now=now,
                    note=lambda wording: timeline_rated(rating, reason, wording),
                )
            else:
                supervise = bool(row.solved) and rating == "unsatisfied"
                row.solved = True
                if supervise:
                    row.supervision = "pending"
                note = timeline_rated(rating, reason, "转督办复核" if supervise else None)
                _schedule_follow_up(self.core, row, now)
                record_change(session, self.core, row, target, actor=who, note=note, now=now)
            ticket = await snapshot(session, row)
        self.core.notify()
        log.info("ticket %s rated %s → %s", ticket_id, rating, target)
        return ticket

    async def supervise(self, ticket_id: str, note: str, *, actor: str = "staff") -> Ticket:
        """A supervisor reviewed a solved but unsatisfying ticket (督办复核) with ``note``."""
        note = clean(note, "note", required=True)
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            if row.supervision != "pending":
                raise IllegalTransition(
                    row.id, row.status, row.status, "no supervisor review is pending",
                    text="这张工单没有待复核的不满意评价。",
                )
            row.supervision = "done"
            row.updated_at = now
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=timeline_supervised(note),
            )
            ticket = await snapshot(session, row)
        return ticket

    # -- 回访 -----------------------------------------------------------------------------

    async def send_follow_ups(self, *, limit: int = 100) -> int:
        """Ask the residents whose 回访 has come (one push each); returns how many."""
        now = self.core.now()
        async with self.core.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(TicketRow.id)
                        .where(TicketRow.follow_up == "due", TicketRow.follow_up_at <= now)
                        .order_by(TicketRow.follow_up_at)
                        .limit(limit)
                    )
                ).scalars()
            )
        asked = 0
        for ticket_id in ids:
            async with self.core.write() as session:
                row = await locked_ticket(session, ticket_id)
                if row.follow_up != "due" or row.openid is None:
                    continue
                label = self.core.category_label(row.category)
                text = follow_up_push_text(ticket_id=row.id, category_label=label)
                enqueue_push(
                    session,
                    ticket_id=row.id,
                    openid=row.openid,
                    ticket_status=row.status,
                    text=text,
                    template_data=status_template_fields(
                        ticket_id=row.id, category_label=label, status=row.status, text=text
                    ),
                    now=now,
                )
                row.follow_up = "asked"
                add_event(
                    session, row, at=now, actor="system", from_status=row.status,
                    to_status=row.status, note=timeline_follow_up("asked"),
                )
                asked += 1
        if asked:
            self.core.notify()
        return asked

    async def answer_follow_up(
        self, ticket_id: str, recurred: bool, words: str | None = None, *, openid: str
    ) -> Ticket:
        """The resident's answer to the 回访; the caller files the new ticket when the
        problem ``recurred`` (linked with ``repeat_of``)."""
        words = clean(words, "words", required=False, resident_words=True) or None
        now = self.core.now()
        async with self.core.write() as session:
            row = await self._locked(session, ticket_id, openid)
            if row.follow_up != "asked":
                raise IllegalTransition(
                    row.id, row.status, row.status, "no follow-up question is open",
                    text="这张工单没有待答复的回访。",
                )
            state = "recurred" if recurred else "ok"
            row.follow_up = state
            row.updated_at = now
            add_event(
                session, row, at=now, actor=f"resident:{openid}", from_status=row.status,
                to_status=row.status, note=timeline_follow_up(state, words),
            )
            ticket = await snapshot(session, row)
        return ticket
