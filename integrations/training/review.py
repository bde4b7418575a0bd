"""The review queue: resident messages the NLU was unsure about, waiting for an admin.

The conversation adds a message when the classifier fell back, was not confident, or the
chat ended with a person (:meth:`ReviewQueue.add`, which never raises: a failing queue
must not break a resident's conversation). An admin then says what the message meant —
the text becomes a training example of that intent — or dismisses it.

Only the masked text is kept (phone, ID and card numbers and house numbers hidden by
:func:`privacy.mask_text`).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.errors import DatabaseError
from integrations.db.models import ReviewItemRow, utcnow
from integrations.training.examples import AddResult, TrainingExampleStore
from privacy import mask_text

__all__ = ["REASONS", "STATUSES", "AssignResult", "ReviewItem", "ReviewQueue"]

log = logging.getLogger(__name__)

#: Why a message is in the queue, with its Chinese label.
REASONS = {
    "low_confidence": "把握不大",
    "fallback": "没有听懂",
    "handoff": "转了人工",
}
#: Item states, with their Chinese labels.
STATUSES = {"open": "待处理", "assigned": "已标注", "dismissed": "已忽略"}
#: Longest text kept (the column's size).
MAX_TEXT_CHARS = 500
#: Open items one resident may have at a time; more are dropped (a flood is not data).
MAX_OPEN_PER_RESIDENT = 30

# Built once, values bound per call: a message queued for review runs both, and building a
# filtered SELECT costs about as much CPU as SQLite's work on it (issue 16).
_SAME_OPEN_TEXT = (
    select(ReviewItemRow.id)
    .where(ReviewItemRow.status == "open", ReviewItemRow.text == bindparam("text"))
    .limit(1)
)
_OPEN_OF_RESIDENT = (
    select(func.count())
    .select_from(ReviewItemRow)
    .where(ReviewItemRow.status == "open", ReviewItemRow.openid == bindparam("openid"))
)


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One queued message."""

    id: int
    at: datetime
    openid: str
    text: str
    reason: str
    guess: str | None
    confidence: float | None
    status: str
    resolved_intent: str | None
    resolved_by: str | None
    resolved_at: datetime | None

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)


@dataclass(frozen=True, slots=True)
class AssignResult:
    """``ok`` when the item was assigned; ``example`` says what became of the example."""

    ok: bool
    message: str
    example: AddResult | None = None


def _item(row: ReviewItemRow) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        at=row.at,
        openid=row.openid,
        text=row.text,
        reason=row.reason,
        guess=row.guess,
        confidence=row.confidence,
        status=row.status,
        resolved_intent=row.resolved_intent,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    """A message to queue for review (``at``: when it was said; default now)."""

    openid: str
    text: str
    reason: str
    guess: str | None = None
    confidence: float | None = None
    at: datetime | None = None


class ReviewQueue:
    """Add, list, assign and dismiss review items."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        examples: TrainingExampleStore | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.examples = examples or TrainingExampleStore(engine, clock=clock)
        self._clock = clock

    async def add(
        self,
        *,
        openid: str,
        text: str,
        reason: str,
        guess: str | None = None,
        confidence: float | None = None,
    ) -> int | None:
        """Queue a message; returns its id, or ``None`` when skipped (empty, already open,
        too many from this resident) or when the database failed (logged, never raised)."""
        ids = await self.add_many([ReviewCandidate(openid, text, reason, guess, confidence)])
        return ids[0] if ids else None

    async def add_many(self, candidates: Sequence[ReviewCandidate]) -> builtins.list[int | None]:
        """:meth:`add` for several messages in one transaction (the bot queues them in
        batches, off the reply path)."""
        try:
            async with self._sessions() as session, session.begin():
                return [await self._add_one(session, c) for c in candidates]
        except (DatabaseError, SQLAlchemyError, OSError, ValueError, TypeError):
            log.exception("could not queue %d messages for review", len(candidates))
            return [None] * len(candidates)

    async def _add_one(self, session: AsyncSession, candidate: ReviewCandidate) -> int | None:
        masked = " ".join(mask_text(candidate.text).split())[:MAX_TEXT_CHARS]
        if not masked:
            return None
        openid = candidate.openid[:64]
        same = await session.execute(_SAME_OPEN_TEXT, {"text": masked})
        if same.first() is not None:
            return None  # the same question again: one item is enough
        open_count = (await session.execute(_OPEN_OF_RESIDENT, {"openid": openid})).scalar_one()
        if open_count >= MAX_OPEN_PER_RESIDENT:
            return None
        row = ReviewItemRow(
            at=candidate.at or self._clock(),
            openid=openid,
            text=masked,
            reason=candidate.reason[:32],
            guess=candidate.guess[:64] if candidate.guess else None,
            confidence=float(candidate.confidence) if candidate.confidence is not None else None,
            status="open",
        )
        session.add(row)
        await session.flush()
        return row.id

    async def list(self, status: str = "open", limit: int = 200) -> builtins.list[ReviewItem]:
        """Items in ``status``: open ones oldest first (work the queue in order), resolved
        ones newest first."""
        limit = max(1, min(limit, 1000))
        order = ReviewItemRow.id.asc() if status == "open" else ReviewItemRow.resolved_at.desc()
        async with self._sessions() as session:
            rows = await session.execute(
                select(ReviewItemRow)
                .where(ReviewItemRow.status == status)
                .order_by(order, ReviewItemRow.id.desc())
                .limit(limit)
            )
            return [_item(row) for row in rows.scalars()]

    async def count_open(self) -> int:
        async with self._sessions() as session:
            return int(
                (
                    await session.execute(
                        select(func.count())
                        .select_from(ReviewItemRow)
                        .where(ReviewItemRow.status == "open")
                    )
                ).scalar_one()
            )

    async def get(self, item_id: int) -> ReviewItem | None:
        async with self._sessions() as session:
            row = await session.get(ReviewItemRow, item_id)
            return _item(row) if row is not None else None

    async def assign(self, item_id: int, intent: str, actor: str) -> AssignResult:
        """Say what the message meant: its text becomes an example of ``intent`` (source
        ``review``) and the item is closed. An example that already exists still closes
        the item; an unknown intent or a closed item changes nothing."""
        item = await self.get(item_id)
        if item is None:
            return AssignResult(False, "没有这条待标注消息")
        if item.status != "open":
            return AssignResult(False, "这条消息已经处理过了")
        example = await self.examples.add(intent, item.text, actor=actor, source="review")
        if example.status == "error":
            return AssignResult(False, example.message, example)
        if not await self._close(item_id, "assigned", actor, intent):
            return AssignResult(False, "这条消息刚被别人处理了", example)
        if example.status == "duplicate":
            return AssignResult(True, "已标注（这条例句原来就有）", example)
        return AssignResult(True, "已标注，并加入了训练例句", example)

    async def dismiss(self, item_id: int, actor: str) -> bool:
        """Close an item without an example; ``False`` when it is not open."""
        return await self._close(item_id, "dismissed", actor, None)

    async def _close(self, item_id: int, status: str, actor: str, intent: str | None) -> bool:
        # Conditional update: of two admins clicking at once, exactly one closes the item.
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(ReviewItemRow)
                .where(ReviewItemRow.id == item_id, ReviewItemRow.status == "open")
                .values(
                    status=status,
                    resolved_intent=intent,
                    resolved_by=actor[:64],
                    resolved_at=self._clock(),
                )
            )
            return bool(getattr(result, "rowcount", 0))
