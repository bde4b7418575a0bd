"""SQL building blocks shared by the ticket store, the outbox and the push queue.

:func:`claim_due` is the one place jobs are claimed, so the outbox and the push queue have
the same concurrency guarantees: on PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` (concurrent workers take disjoint batches without waiting); on
SQLite the whole ``UPDATE … WHERE id IN (SELECT …) RETURNING`` runs under the database's
write lock (``BEGIN IMMEDIATE``), which makes it atomic as well. A claim is a lease:
``lease_until`` in the future means a worker owns the job; a worker that dies simply lets
the lease run out and another one claims the job again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import DispatchJobRow, PushJobRow, utcnow

__all__ = ["Clock", "claim_due", "dialect_name", "insert_for", "utcnow"]

Clock = Callable[[], datetime]


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(session: AsyncSession) -> Callable[..., Any]:
    """The ``insert`` with ``on_conflict_do_*`` of the session's database."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert
    return sqlite.insert


async def claim_due(
    session: AsyncSession,
    model: type[DispatchJobRow] | type[PushJobRow],
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    extra: Sequence[ColumnElement[bool]] = (),
) -> list[int]:
    """Claim up to ``limit`` pending jobs that are due and not leased; return their ids.

    The attempt counter goes up at claim time, so a job whose delivery kills its worker
    every time still reaches its maximum and is parked instead of looping forever.
    """
    due = and_(
        model.status == "pending",
        model.next_attempt_at <= now,
        or_(model.lease_until.is_(None), model.lease_until <= now),
        *extra,
    )
    # Materialised, so the candidates are picked once. As a plain ``IN (SELECT … LIMIT n
    # FOR UPDATE SKIP LOCKED)`` PostgreSQL may re-run the subquery for every row it
    # updates; rows this very statement already changed then count as locked and are
    # skipped, so each run yields n more rows and the claim ignores its LIMIT.
    candidates = (
        select(model.id)
        .where(due)
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte(f"due_{model.__tablename__}")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    statement = (
        update(model)
        .where(model.id.in_(select(candidates.c.id)), due)
        .values(
            claimed_by=worker_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=model.attempts + 1,
            updated_at=now,
        )
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return sorted(result.scalars().all())
