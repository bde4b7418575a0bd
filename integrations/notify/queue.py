"""Enqueueing status pushes inside the transaction that changes the ticket.

A push job is written in the same transaction as the status change it reports, so a
change is never committed without its message (nor a message without its change); the
:class:`~integrations.notify.sender.PushSender` delivers it later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import PushJobRow

__all__ = ["enqueue_push", "push_job_values"]


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
            **push_job_values(
                ticket_id=ticket_id,
                openid=openid,
                ticket_status=ticket_status,
                text=text,
                template_data=template_data,
                now=now,
            )
        )
    )


def push_job_values(
    *,
    ticket_id: str,
    openid: str,
    ticket_status: str,
    text: str,
    template_data: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    """The columns of a pending push job (for :func:`enqueue_push`, or a Core insert)."""
    return {
        "ticket_id": ticket_id,
        "openid": openid,
        "ticket_status": ticket_status,
        "text": text,
        "template_data": dict(template_data),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
