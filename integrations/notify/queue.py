"""Enqueueing status pushes inside the transaction that changes the ticket.

A push job is written in the same transaction as the status change it reports, so a
change is never committed without its message (nor a message without its change); the
:class:`~integrations.notify.sender.PushSender` delivers it later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import PushJobRow

__all__ = ["enqueue_push"]


def enqueue_push(
    session: AsyncSession,
    *,
    ticket_id: str,
    openid: str,
    ticket_status: str,
    text: str,
    template_data: Mapping[str, str],
    now: datetime,
) -> None:
    """Add a pending push job to ``session`` (committed with the caller's transaction)."""
    session.add(
        PushJobRow(
            ticket_id=ticket_id,
            openid=openid,
            ticket_status=ticket_status,
            text=text,
            template_data=dict(template_data),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
