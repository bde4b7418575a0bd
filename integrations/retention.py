"""How long residents' raw chat text is kept, and forgetting a resident on request.

The chat text of a complaint is needed while it is handled, not for years: past the
retention period (``INTAKE_CHAT_RETENTION_DAYS``, 180 by default) :func:`purge_chat_text`
removes

* the chat lines kept with a ticket (``tickets.chat``) of tickets filed before then — the
  ticket itself (category, description, location, phone, timeline) is the record and
  stays;
* the lines of handoffs (``handoff_messages``) written before then; the handoff rows
  (who, when, why) stay;
* review items (``review_items``) queued before then; what an admin labelled lives on as
  a training example (masked text, no openid).

The outbox worker runs it periodically (every ``INTAKE_RETENTION_CHECK_SECONDS``); any
number of workers may, the statements are idempotent.

:func:`purge_resident` is the same for one resident at once, whatever the age (a
request under PIPL art. 47), and with ``tickets`` also empties the contact details and
words of their tickets. ``intake resident purge OPENID`` runs it (docs/security.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from integrations.db.migrate import sqlite_writer_lock
from integrations.db.models import (
    HandoffMessageRow,
    HandoffRow,
    ReviewItemRow,
    TicketFollowerRow,
    TicketRow,
)
from integrations.state import KeyValueStore

__all__ = ["ERASED", "Purged", "purge_chat_text", "purge_resident"]

log = logging.getLogger(__name__)

#: what a ticket's description and location say once erased at the resident's request
ERASED = "（已应本人要求删除）"


@dataclass(frozen=True, slots=True)
class Purged:
    """How many rows lost their chat text."""

    ticket_chats: int = 0
    handoff_lines: int = 0
    review_items: int = 0
    tickets_erased: int = 0

    @property
    def total(self) -> int:
        return self.ticket_chats + self.handoff_lines + self.review_items + self.tickets_erased


async def purge_chat_text(engine: AsyncEngine, *, before: datetime) -> Purged:
    """Remove chat text older than ``before`` (see the module docstring)."""
    async with _write(engine) as session:
        tickets = await session.execute(
            update(TicketRow)
            .where(TicketRow.created_at < before, TicketRow.chat.is_not(None))
            .values(chat=None)
        )
        lines = await session.execute(
            delete(HandoffMessageRow).where(HandoffMessageRow.at < before)
        )
        reviews = await session.execute(delete(ReviewItemRow).where(ReviewItemRow.at < before))
    purged = Purged(_count(tickets), _count(lines), _count(reviews))
    if purged.total:
        log.info(
            "retention: chat text purged from %d tickets, %d handoff lines, %d review items",
            purged.ticket_chats,
            purged.handoff_lines,
            purged.review_items,
        )
    return purged


async def purge_resident(
    engine: AsyncEngine, store: KeyValueStore, openid: str, *, tickets: bool = False
) -> Purged:
    """Forget what ``openid`` said: the chat memory and dialogue state in the state store,
    their handoff lines, review items and the chat kept with their tickets; with
    ``tickets``, also their tickets' phone, location, coordinates, description and rating
    reason (the ticket stays as a record that a complaint was handled)."""
    async with _write(engine) as session:
        chats = await session.execute(
            update(TicketRow)
            .where(TicketRow.openid == openid, TicketRow.chat.is_not(None))
            .values(chat=None)
        )
        handoffs = select(HandoffRow.id).where(HandoffRow.openid == openid)
        lines = await session.execute(
            delete(HandoffMessageRow).where(HandoffMessageRow.handoff_id.in_(handoffs))
        )
        reviews = await session.execute(
            delete(ReviewItemRow).where(ReviewItemRow.openid == openid)
        )
        erased = 0
        if tickets:
            result = await session.execute(
                update(TicketRow)
                .where(TicketRow.openid == openid)
                .values(
                    phone="",
                    location=ERASED,
                    description=ERASED,
                    latitude=None,
                    longitude=None,
                    rating_reason=None,
                    photos=[],
                )
            )
            erased = _count(result)
            # Their words kept with tickets they chose to follow instead of filing.
            await session.execute(
                update(TicketFollowerRow)
                .where(TicketFollowerRow.openid == openid)
                .values(location=ERASED, description=ERASED)
            )
    for key in (f"chat:{openid}", f"fsm:{openid}"):
        await store.delete(key)
    return Purged(_count(chats), _count(lines), _count(reviews), erased)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@asynccontextmanager
async def _write(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A write transaction (on SQLite after this process's other writers)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    lock = sqlite_writer_lock(engine.sync_engine)
    if lock is None:
        async with sessions() as session, session.begin():
            yield session
        return
    async with lock, sessions() as session, session.begin():
        yield session
