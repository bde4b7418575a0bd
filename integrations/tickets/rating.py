"""The resident's rating (评价) of a resolved ticket: the only way out of ``resolved``.

满意 / 基本满意 close the ticket; 不满意 reopens it one level up, with a new deadline and
a new delivery (the next generation) — :func:`policies.tickets.rating_outcome`.
"""

from __future__ import annotations

import logging

from integrations.tickets.core import CoreService, locked_ticket, record_change, refused, snapshot
from integrations.tickets.errors import InvalidTicket, TicketNotFound
from integrations.tickets.escalation import redispatch
from integrations.tickets.fields import clean
from integrations.tickets.model import Ticket
from policies.tickets import RATINGS, rating_outcome, rating_refusal, timeline_rated

__all__ = ["Rating"]

log = logging.getLogger(__name__)


class Rating(CoreService):
    """Records ratings, from the resident on WeChat or taken by staff on a call-back."""

    async def rate(
        self,
        ticket_id: str,
        rating: str,
        reason: str | None = None,
        *,
        openid: str | None = None,
        actor: str | None = None,
    ) -> Ticket:
        """The rating of a resolved ticket, with the resident's ``reason`` if given.

        ``openid``: the rating must come from the ticket's resident (else not found).
        Raises :class:`InvalidTicket` (unknown rating), :class:`TicketNotFound`,
        :class:`IllegalTransition` (not resolved).
        """
        if rating not in RATINGS:
            raise InvalidTicket(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
        reason = clean(reason, "reason", required=False, resident_words=True) or None
        target = rating_outcome(rating)
        now = self.core.now()
        async with self.core.write() as session:
            row = await locked_ticket(session, ticket_id)
            if openid is not None and row.openid != openid:
                raise TicketNotFound(ticket_id)
            refusal = rating_refusal(row.status)
            if refusal is not None:
                raise refused(row, target, refusal)
            who = actor or (f"resident:{row.openid}" if row.openid else "staff")
            row.rating, row.rating_reason = rating, reason
            if target == "reopened":
                await redispatch(
                    session, self.core, row, target, actor=who, now=now,
                    note=lambda wording: timeline_rated(rating, reason, wording),
                )
            else:
                note = timeline_rated(rating, reason)
                record_change(session, self.core, row, target, actor=who, note=note, now=now)
            ticket = await snapshot(session, row)
        self.core.notify()
        log.info("ticket %s rated %s → %s", ticket_id, rating, target)
        return ticket
