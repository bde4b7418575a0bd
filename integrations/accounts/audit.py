"""The audit log: who saw or changed what in the console (append-only, in the database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from integrations.db.models import AuditRow, utcnow

__all__ = ["AuditEntry", "AuditLog"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str | None
    ip: str | None



class AuditLog:
    """Record and read audited actions. ``action`` is a dotted verb such as
    ``ticket.reveal`` or ``faq.update``; ``target`` names the object (``ticket:…``)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        *,
        detail: str | None = None,
        ip: str | None = None,
    ) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                AuditRow(
                    at=self._clock(),
                    actor=actor[:64],
                    action=action[:64],
                    target=target[:128],
                    detail=detail,
                    ip=(ip or None) and ip[:64],
                )
            )

    async def recent(
        self, *, limit: int = 200, actor: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        statement = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, 1000)))
        if actor:
            statement = statement.where(AuditRow.actor == actor)
        if action:
            statement = statement.where(AuditRow.action.startswith(action))
        async with self._sessions() as session:
            rows = (await session.execute(statement)).scalars()
            return [
                AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.detail, r.ip) for r in rows
            ]
