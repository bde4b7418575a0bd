"""Status pushes for residents who follow a ticket someone else filed.

A follower (``ticket_followers``) chose in the chat to follow an open ticket about the same
problem instead of filing another. Each status change of that ticket after they followed
(a timeline entry that changes the status) becomes a push job for them, worded for a
follower (:func:`policies.messages.follow_update`: they cannot rate someone else's ticket),
queued in the same transaction that moves their ``last_event_id`` on — so each change is
pushed once, by whichever process runs :func:`push_to_followers`. The push sender then
delivers them like any other status push.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from integrations.analytics.labels import category_label
from integrations.db.models import TicketFollowerRow, TicketRow, TimelineRow
from integrations.notify.queue import enqueue_push
from integrations.tickets.core import Core
from policies import messages as msg
from policies.tickets import status_template_fields
from privacy import mask_openid, redact

__all__ = ["push_to_followers"]

log = logging.getLogger(__name__)


async def push_to_followers(core: Core, limit: int = 200) -> int:
    """Queue the pushes owed to followers; returns how many were queued."""
    statement = (
        select(TicketFollowerRow.id)
        .join(TimelineRow, TimelineRow.ticket_id == TicketFollowerRow.ticket_id)
        .where(
            TimelineRow.id > TicketFollowerRow.last_event_id,
            TimelineRow.from_status != TimelineRow.to_status,
        )
        .distinct()
        .limit(limit)
    )
    async with core.read() as session:
        due = list((await session.execute(statement)).scalars())
    queued = 0
    now = core.clock()
    for follower_id in due:
        async with core.write() as session:
            follower = await session.get(TicketFollowerRow, follower_id, with_for_update=True)
            if follower is None:
                continue
            ticket = await session.get(TicketRow, follower.ticket_id)
            events = list(
                (
                    await session.execute(
                        select(TimelineRow)
                        .where(
                            TimelineRow.ticket_id == follower.ticket_id,
                            TimelineRow.id > follower.last_event_id,
                        )
                        .order_by(TimelineRow.id)
                    )
                ).scalars()
            )
            if ticket is None or not events:
                continue
            label = category_label(ticket.category)
            for event in events:
                if event.from_status == event.to_status:
                    continue
                note = event.note if event.to_status in ("resolved", "rejected") else None
                text = msg.follow_update(
                    ticket_id=ticket.id,
                    category_label=label,
                    status=event.to_status,
                    department=ticket.department,
                    note=redact(note, keep_phones=True, hide_phones=(ticket.phone,))
                    if note
                    else None,
                )
                if text is None:
                    continue
                enqueue_push(
                    session,
                    ticket_id=ticket.id,
                    openid=follower.openid,
                    ticket_status=event.to_status,
                    text=text,
                    template_data={
                        **status_template_fields(
                            ticket_id=ticket.id, category_label=label, status=event.to_status,
                            text=text,
                        ),
                        # A follower cannot rate someone else's ticket: no rating request.
                        "remark": text[:200],
                    },
                    now=now,
                )
                queued += 1
                log.info("ticket %s → %s: follower push queued for %s", ticket.id,
                         event.to_status, mask_openid(follower.openid))
            follower.last_event_id = events[-1].id
    if queued:
        core.notify()
    return queued
