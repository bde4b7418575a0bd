"""Handoffs in the database, with a cache of "is this resident with a person?" in the
shared state store, because the bot asks that for every single message.

A handoff is ``waiting`` until a staff member writes, then ``active``, then ``closed`` when
staff hand the resident back to the bot. Every message either way is in its transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from integrations.db.models import HandoffMessageRow, HandoffRow
from integrations.errors import IntakeError
from integrations.state import KeyValueStore

__all__ = ["Handoff", "HandoffMessage", "HandoffNotFound", "HandoffService"]

OPEN = ("waiting", "active")
_CACHE_TTL = 3600.0


class HandoffNotFound(IntakeError):
    """No handoff with that id."""


@dataclass(frozen=True, slots=True)
class HandoffMessage:
    """One line of a transcript: who (resident, staff, bot), when, what."""

    at: datetime
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class Handoff:
    """An escalated chat."""

    id: int
    openid: str
    status: str
    reason: str
    created_at: datetime
    updated_at: datetime
    transcript: tuple[HandoffMessage, ...] = ()

    def as_dict(self, *, transcript: bool = False) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "openid": self.openid,
            "status": self.status,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if transcript:
            data["transcript"] = [
                {"at": m.at.isoformat(), "role": m.role, "text": m.text} for m in self.transcript
            ]
        return data


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HandoffService:
    """Start, record, list, answer and close handoffs."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: KeyValueStore,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._store = store
        self._clock = clock

    @staticmethod
    def _key(openid: str) -> str:
        return f"handoff:{openid}"

    async def _open_row(self, session: AsyncSession, openid: str) -> HandoffRow | None:
        result = await session.execute(
            select(HandoffRow)
            .where(HandoffRow.openid == openid, HandoffRow.status.in_(OPEN))
            .order_by(HandoffRow.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def active(self, openid: str) -> bool:
        """Whether a person handles this resident's chat now (cached: asked per message)."""
        cached = await self._store.get(self._key(openid))
        if cached is not None:
            return cached == b"1"
        async with self._sessions() as session:
            is_open = await self._open_row(session, openid) is not None
        await self._store.set(self._key(openid), b"1" if is_open else b"0", ttl=_CACHE_TTL)
        return is_open

    async def start(self, openid: str, reason: str) -> Handoff:
        """Put the resident in the queue (once: an open handoff is reused)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._open_row(session, openid)
            if row is None:
                row = HandoffRow(
                    openid=openid, status="waiting", reason=reason, created_at=now, updated_at=now
                )
                session.add(row)
                await session.flush()
            handoff = _handoff(row)
        await self._store.set(self._key(openid), b"1", ttl=_CACHE_TTL)
        return handoff

    async def record(self, openid: str, role: str, text: str) -> None:
        """Add a line to the resident's open handoff (nothing when there is none)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._open_row(session, openid)
            if row is None:
                return
            row.updated_at = now
            session.add(HandoffMessageRow(handoff_id=row.id, at=now, role=role, text=text))

    async def list(
        self, *, status: str | None = None, openid: str | None = None, limit: int = 100
    ) -> list[Handoff]:
        statement = select(HandoffRow).order_by(HandoffRow.id.desc()).limit(max(1, limit))
        if status:
            statement = statement.where(HandoffRow.status == status)
        if openid:
            statement = statement.where(HandoffRow.openid == openid)
        async with self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
        return [_handoff(row) for row in rows]

    async def get(self, handoff_id: int) -> Handoff:
        async with self._sessions() as session:
            row = await session.get(HandoffRow, handoff_id)
            if row is None:
                raise HandoffNotFound(f"no handoff {handoff_id}")
            lines = (
                await session.execute(
                    select(HandoffMessageRow)
                    .where(HandoffMessageRow.handoff_id == handoff_id)
                    .order_by(HandoffMessageRow.id)
                )
            ).scalars()
            transcript = tuple(HandoffMessage(m.at, m.role, m.text) for m in lines)
            return _handoff(row, transcript)

    async def staff_message(self, handoff_id: int, text: str) -> Handoff:
        """Record a staff reply (the caller sends it); a waiting handoff becomes active."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await session.get(HandoffRow, handoff_id)
            if row is None:
                raise HandoffNotFound(f"no handoff {handoff_id}")
            if row.status == "waiting":
                row.status = "active"
            row.updated_at = now
            session.add(HandoffMessageRow(handoff_id=row.id, at=now, role="staff", text=text))
        return await self.get(handoff_id)

    async def close(self, handoff_id: int) -> Handoff:
        """Hand the resident back to the bot."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await session.get(HandoffRow, handoff_id)
            if row is None:
                raise HandoffNotFound(f"no handoff {handoff_id}")
            row.status = "closed"
            row.updated_at = now
            openid = row.openid
        await self._store.set(self._key(openid), b"0", ttl=_CACHE_TTL)
        return await self.get(handoff_id)


def _handoff(row: HandoffRow, transcript: tuple[HandoffMessage, ...] = ()) -> Handoff:
    return Handoff(
        id=row.id,
        openid=row.openid,
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        transcript=transcript,
    )
