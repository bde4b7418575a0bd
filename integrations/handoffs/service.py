"""Handoffs in the database, with a cache of "is this resident with a person?" in the
shared state store, because the bot asks that for every single message.

A handoff is ``waiting`` until a staff member takes it or writes, then ``active`` (with the
staff member as its ``assignee``), then ``closed`` when staff hand the resident back to the
bot. Every message either way is in its transcript, each line with an increasing id so a
page can ask for the lines after the last one it shows. ID, bank-card and phone numbers
in a line are masked before it is stored (:func:`privacy.redact`), whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.errors import IntakeError
from integrations.db.models import HandoffMessageRow, HandoffRow, utcnow
from integrations.state import KeyValueStore
from privacy import redact

__all__ = [
    "OPEN",
    "Handoff",
    "HandoffClosed",
    "HandoffMessage",
    "HandoffNotFound",
    "HandoffService",
]

OPEN = ("waiting", "active")
_CACHE_TTL = 3600.0
#: set once the open handoffs are loaded into the state store (gone after a Redis restart)
_WARM_KEY = "handoff:warm"
#: the residents in the queue (built once: see integrations/tickets/lookups.py)
_OPEN_OPENIDS = select(HandoffRow.openid).where(HandoffRow.status.in_(OPEN)).distinct()
#: how a staff line that WeChat refused is stored (the role column has no room for a flag)
_UNDELIVERED_SUFFIX = ":failed"


class HandoffNotFound(IntakeError):
    """No handoff with that id."""


class HandoffClosed(IntakeError):
    """The handoff is closed: the resident is back with the bot."""


@dataclass(frozen=True, slots=True)
class HandoffMessage:
    """One line of a transcript: who (resident, staff, bot), when, what; ``id`` orders the
    lines, ``delivered`` is false for a staff reply WeChat refused."""

    at: datetime
    role: str
    text: str
    id: int = 0
    delivered: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "role": self.role,
            "text": self.text,
            "delivered": self.delivered,
        }


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
    #: the staff member who took the chat
    assignee: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def as_dict(self, *, transcript: bool = False) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "openid": self.openid,
            "status": self.status,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "assignee": self.assignee,
        }
        if transcript:
            data["transcript"] = [line.as_dict() for line in self.transcript]
        return data



class HandoffService:
    """Start, record, list, answer and close handoffs."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: KeyValueStore,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._store = store
        self._clock = clock

    @staticmethod
    def key(openid: str) -> str:
        """The store key caching whether a person handles the resident's chat."""
        return f"handoff:{openid}"

    @classmethod
    def cache_keys(cls, openid: str) -> tuple[str, str]:
        """What :meth:`active` reads: the resident's key and the cache's "warm" mark."""
        return cls.key(openid), _WARM_KEY

    async def _open_row(self, session: AsyncSession, openid: str) -> HandoffRow | None:
        result = await session.execute(
            select(HandoffRow)
            .where(HandoffRow.openid == openid, HandoffRow.status.in_(OPEN))
            .order_by(HandoffRow.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def active(self, openid: str) -> bool:
        """Whether a person handles this resident's chat now (asked per message, so answered
        from the state store: every open handoff has its key there, loaded from the
        database when the store comes up empty, e.g. after a Redis restart)."""
        # One round trip for both: the resident's key and whether the cache is warm.
        cached, warm = await self._store.get_many(self.cache_keys(openid))
        if cached is not None:
            return cached == b"1"
        if warm is None:
            await self._warm()
            return await self._store.get(self.key(openid)) == b"1"
        return False

    async def _warm(self) -> None:
        async with self._sessions() as session:
            openids = (await session.execute(_OPEN_OPENIDS)).scalars().all()
        for openid in openids:
            await self._store.set(self.key(openid), b"1")
        await self._store.set(_WARM_KEY, b"1")

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
        # No expiry: the key is the truth the bot asks until the handoff is closed.
        await self._store.set(self.key(openid), b"1")
        return handoff

    async def record(self, openid: str, role: str, text: str) -> None:
        """Add a line to the resident's open handoff (nothing when there is none)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._open_row(session, openid)
            if row is None:
                return
            row.updated_at = now
            session.add(HandoffMessageRow(handoff_id=row.id, at=now, role=role, text=redact(text)))

    async def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        openid: str | None = None,
        assignee: str | None = None,
        limit: int = 100,
    ) -> list[Handoff]:
        """Newest first; ``status`` is one status or several."""
        statement = select(HandoffRow).order_by(HandoffRow.id.desc()).limit(max(1, limit))
        if isinstance(status, str) and status:
            statement = statement.where(HandoffRow.status == status)
        elif status:
            statement = statement.where(HandoffRow.status.in_(tuple(status)))
        if openid:
            statement = statement.where(HandoffRow.openid == openid)
        if assignee:
            statement = statement.where(HandoffRow.assignee == assignee)
        async with self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
        return [_handoff(row) for row in rows]

    async def count_by_status(self, *, assignee: str | None = None) -> dict[str, int]:
        """How many handoffs are in each status (of one assignee, if given)."""
        statement = select(HandoffRow.status, func.count()).group_by(HandoffRow.status)
        if assignee:
            statement = statement.where(HandoffRow.assignee == assignee)
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return {status: int(count) for status, count in rows}

    async def last_messages(self, handoff_ids: Iterable[int]) -> dict[int, HandoffMessage]:
        """The newest line of each of these handoffs (for previews in a list)."""
        ids = list(handoff_ids)
        if not ids:
            return {}
        newest = (
            select(func.max(HandoffMessageRow.id))
            .where(HandoffMessageRow.handoff_id.in_(ids))
            .group_by(HandoffMessageRow.handoff_id)
        )
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(HandoffMessageRow).where(HandoffMessageRow.id.in_(newest))
                )
            ).scalars()
            return {row.handoff_id: _message(row) for row in rows}

    async def get(self, handoff_id: int) -> Handoff:
        async with self._sessions() as session:
            row = await self._row(session, handoff_id)
            transcript = await self._lines(session, handoff_id)
            return _handoff(row, transcript)

    async def messages(
        self, handoff_id: int, *, after: int = 0
    ) -> tuple[Handoff, tuple[HandoffMessage, ...]]:
        """The handoff and its lines with an id above ``after`` (those a page has not shown)."""
        async with self._sessions() as session:
            row = await self._row(session, handoff_id)
            return _handoff(row), await self._lines(session, handoff_id, after=after)

    async def take(self, handoff_id: int, staff: str) -> Handoff:
        """Assign the chat to ``staff`` (taking it over from a colleague is allowed)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._row(session, handoff_id)
            if row.status not in OPEN:
                raise HandoffClosed(f"handoff {handoff_id} is closed")
            row.assignee = staff
            row.status = "active"
            row.updated_at = now
        return await self.get(handoff_id)

    async def staff_reply(
        self, handoff_id: int, text: str, *, staff: str | None = None
    ) -> tuple[Handoff, HandoffMessage, bool]:
        """Record a staff reply (the caller sends it): the handoff, the new line, and
        whether the reply made ``staff`` the chat's assignee (nobody had taken it). The chat
        becomes active. Raises :class:`HandoffClosed` for a closed chat (nothing recorded)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._row(session, handoff_id, lock=True)
            if row.status not in OPEN:
                raise HandoffClosed(f"handoff {handoff_id} is closed")
            took = bool(staff) and row.assignee is None
            row.status = "active"
            if took:
                row.assignee = staff
            row.updated_at = now
            line = HandoffMessageRow(handoff_id=row.id, at=now, role="staff", text=redact(text))
            session.add(line)
            await session.flush()
            return _handoff(row), _message(line), took

    async def resident_wrote_at(self, handoff_id: int) -> datetime | None:
        """When the resident last wrote in this chat (``None``: never)."""
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(func.max(HandoffMessageRow.at)).where(
                        HandoffMessageRow.handoff_id == handoff_id,
                        HandoffMessageRow.role == "resident",
                    )
                )
            ).scalar_one_or_none()

    async def add_line(self, handoff_id: int, role: str, text: str) -> HandoffMessage:
        """Add a line to this handoff's transcript, whatever its status."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._row(session, handoff_id)
            row.updated_at = now
            line = HandoffMessageRow(handoff_id=row.id, at=now, role=role, text=redact(text))
            session.add(line)
            await session.flush()
            return _message(line)

    async def mark_undelivered(self, message_id: int) -> None:
        """WeChat refused this staff line: keep it, flagged, so staff see it did not arrive."""
        async with self._sessions() as session, session.begin():
            line = await session.get(HandoffMessageRow, message_id)
            if line is not None and not line.role.endswith(_UNDELIVERED_SUFFIX):
                line.role = line.role + _UNDELIVERED_SUFFIX

    async def close(self, handoff_id: int) -> Handoff:
        """Hand the resident back to the bot."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await self._row(session, handoff_id)
            row.status = "closed"
            row.updated_at = now
            openid = row.openid
        await self._store.set(self.key(openid), b"0", ttl=_CACHE_TTL)
        return await self.get(handoff_id)

    @staticmethod
    async def _row(session: AsyncSession, handoff_id: int, *, lock: bool = False) -> HandoffRow:
        row = await session.get(HandoffRow, handoff_id, with_for_update=lock)
        if row is None:
            raise HandoffNotFound(f"no handoff {handoff_id}")
        return row

    @staticmethod
    async def _lines(
        session: AsyncSession, handoff_id: int, *, after: int = 0
    ) -> tuple[HandoffMessage, ...]:
        lines = await session.execute(
            select(HandoffMessageRow)
            .where(HandoffMessageRow.handoff_id == handoff_id, HandoffMessageRow.id > after)
            .order_by(HandoffMessageRow.id)
        )
        return tuple(_message(line) for line in lines.scalars())


def _message(row: HandoffMessageRow) -> HandoffMessage:
    role, failed, _ = row.role.partition(_UNDELIVERED_SUFFIX)
    return HandoffMessage(row.at, role, row.text, id=row.id, delivered=not failed)


def _handoff(row: HandoffRow, transcript: tuple[HandoffMessage, ...] = ()) -> Handoff:
    return Handoff(
        id=row.id,
        openid=row.openid,
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        transcript=transcript,
        assignee=row.assignee,
    )
