"""When each resident last wrote to us: WeChat's 48-hour customer-service window.

WeChat lets an Official Account send customer-service messages to a resident only within
48 hours of the resident's last message, and only a limited number of them; after that
only template messages get through. The bot records every inbound message here
(:func:`record_inbound`) and the push sender picks the channel from it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import ResidentRow

__all__ = ["lock_residents", "record_inbound", "record_inbound_many"]


async def record_inbound(session: AsyncSession, openid: str, at: datetime) -> None:
    """The resident wrote at ``at``: a new window opens and its push count starts at 0.

    Messages processed out of order never move the window back.
    """
    await record_inbound_many(session, [(openid, at)])


async def record_inbound_many(
    session: AsyncSession, items: Sequence[tuple[str, datetime]]
) -> None:
    """:func:`record_inbound` for several residents in one statement (one round trip)."""
    if not items:
        return
    # (not integrations.tickets.sql.insert_for: this package must not import tickets)
    dialect = session.get_bind().dialect.name
    await session.execute(
        _upsert(dialect),
        [
            {"openid": openid, "last_inbound_at": at, "cs_sent": 0, "updated_at": at}
            for openid, at in items
        ],
    )


@functools.cache
def _upsert(dialect: str) -> Any:
    """The upsert, built once per dialect, on the table (not the ORM class): a Core
    executemany, not the ORM's bulk-insert machinery (a tenth of the CPU per batch)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, ResidentRow.__table__)
    statement = insert(table)
    newer = statement.excluded.last_inbound_at > table.c.last_inbound_at
    return statement.on_conflict_do_update(
        index_elements=[table.c.openid],
        set_={
            "last_inbound_at": case(
                (newer, statement.excluded.last_inbound_at), else_=table.c.last_inbound_at
            ),
            "cs_sent": case((newer, 0), else_=table.c.cs_sent),
            "updated_at": statement.excluded.updated_at,
        },
    )


async def lock_residents(
    session: AsyncSession, openids: Iterable[str]
) -> dict[str, ResidentRow]:
    """The rows of these residents (those ever seen), locked until the transaction ends,
    so concurrent senders never hand out more customer-service pushes than the quota."""
    wanted = sorted(set(openids))
    if not wanted:
        return {}
    rows = (
        await session.execute(
            select(ResidentRow)
            .where(ResidentRow.openid.in_(wanted))
            .order_by(ResidentRow.openid)
            .with_for_update()
        )
    ).scalars()
    return {row.openid: row for row in rows}
