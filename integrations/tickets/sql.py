"""SQL building blocks shared by the ticket store, the outbox and the push queue.

:func:`claim_due` is the one place jobs are claimed (with the statement each queue builds
once, :func:`claim_statement`), so the outbox and the push queue have the same concurrency
guarantees: on PostgreSQL the candidate rows are locked with ``FOR UPDATE SKIP LOCKED``
(concurrent workers take disjoint batches without waiting); on SQLite the whole
``UPDATE … WHERE id IN (SELECT …) RETURNING`` runs under the database's write lock
(``BEGIN IMMEDIATE``), which makes it atomic as well. A claim is a lease: ``lease_until``
in the future means a worker owns the job; a worker that dies simply lets the lease run
out and another one claims the job again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    Update,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import DispatchJobRow, PushJobRow, utcnow

__all__ = [
    "Clock",
    "claim_due",
    "claim_statement",
    "dialect_name",
    "insert_for",
    "update_by_id",
    "utcnow",
]

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
    claim: Update,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
) -> list[Sequence[Any]]:
    """Claim up to ``limit`` pending jobs that are due and not leased with ``claim`` (a
    :func:`claim_statement`); return what it returns, in job id order.

    The attempt counter goes up at claim time, so a job whose delivery kills its worker
    every time still reaches its maximum and is parked instead of looping forever.
    """
    conn = await session.connection()
    result = await conn.execute(
        claim,
        {
            "claim_now": now,
            "claim_limit": limit,
            "claim_worker": worker_id,
            "claim_until": now + timedelta(seconds=lease_seconds),
        },
    )
    return sorted(result.all(), key=lambda row: row[0])


def claim_statement(
    model: type[DispatchJobRow] | type[PushJobRow],
    *,
    returning: Sequence[ColumnElement[Any]] = (),
    extra: Sequence[ColumnElement[bool]] = (),
) -> Update:
    """The claim of :func:`claim_due` for ``model``'s jobs, built once by each queue: a Core
    ``UPDATE … RETURNING`` the job id, then ``returning`` (the claimed values, or what a
    subquery reads beside them), with its values bound per call.

    Built per call through the ORM it cost ~1.5 ms of CPU even when it claimed nothing
    (statement construction, cache key, the ORM's bulk-update set-up), twice a worker pass
    (issue 16); this is ~0.6 ms, most of it the transaction's own.
    """
    table = cast(Table, model.__table__)
    now = bindparam("claim_now", type_=table.c.next_attempt_at.type)
    due = and_(
        table.c.status == "pending",
        table.c.next_attempt_at <= now,
        or_(table.c.lease_until.is_(None), table.c.lease_until <= now),
        *extra,
    )
    # Materialised, so the candidates are picked once. As a plain ``IN (SELECT … LIMIT n
    # FOR UPDATE SKIP LOCKED)`` PostgreSQL may re-run the subquery for every row it
    # updates; rows this very statement already changed then count as locked and are
    # skipped, so each run yields n more rows and the claim ignores its LIMIT.
    candidates = (
        select(table.c.id)
        .where(due)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(bindparam("claim_limit", type_=Integer()))
        .with_for_update(skip_locked=True)
        .cte(f"due_{table.name}")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(table)
        .where(table.c.id.in_(select(candidates.c.id)), due)
        .values(
            claimed_by=bindparam("claim_worker", type_=table.c.claimed_by.type),
            lease_until=bindparam("claim_until", type_=table.c.lease_until.type),
            attempts=table.c.attempts + 1,
            updated_at=now,
        )
        .returning(table.c.id, *returning)
    )


async def update_by_id(
    session: AsyncSession, table: Table, changes: Mapping[Any, Mapping[str, Any]]
) -> None:
    """Write each row's changed columns (``{id: {column: value}}``, rows without changes
    skipped): one Core executemany ``UPDATE … WHERE id = ?`` per set of columns, where the
    ORM's unit of work cost more than the statements (issue 16)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for id_, values in changes.items():
        if values:
            groups.setdefault(frozenset(values), []).append({**values, "row_id": id_})
    if not groups:
        return
    conn = await session.connection()
    for rows in groups.values():
        await conn.execute(_update_by_id(table), rows)


@functools.cache
def _update_by_id(table: Table) -> Update:
    # No .values(): the SET clause is the parameters' columns (one statement per shape in
    # SQLAlchemy's compiled cache).
    return update(table).where(table.c.id == bindparam("row_id"))
