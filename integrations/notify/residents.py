"""When each resident last wrote to us: WeChat's 48-hour customer-service window.

WeChat lets an Official Account send customer-service messages to a resident only within
48 hours of the resident's last message, and only a limited number of them; after that
only template messages get through. The bot records every inbound message here
(:func:`record_inbound`) and the push sender picks the channel from it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import ResidentRow

__all__ = [
    "ResidentWindow",
    "lock_residents",
    "record_inbound",
    "record_inbound_many",
    "save_windows",
]


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


@dataclass(slots=True)
class ResidentWindow:
    """A resident's row as the quota reads and counts it (:func:`lock_residents`); the
    count is written back by :func:`save_windows`."""

    openid: str
    last_inbound_at: datetime
    cs_sent: int
    updated_at: datetime
    #: ``cs_sent`` as read, to tell the rows counted since
    loaded_sent: int = field(default=0, repr=False)


_RESIDENTS = cast(Table, ResidentRow.__table__)
# Column reads and executemany writes, not the ORM: the push sender locks a batch's
# residents on every claim, and the entity machinery cost more than the statements
# (issue 16).
_LOCK = (
    select(_RESIDENTS.c.openid, _RESIDENTS.c.last_inbound_at, _RESIDENTS.c.cs_sent,
           _RESIDENTS.c.updated_at)
    .where(_RESIDENTS.c.openid.in_(bindparam("openids", expanding=True)))
    .order_by(_RESIDENTS.c.openid)
    .with_for_update()
)
_SAVE = (
    update(_RESIDENTS)
    .where(_RESIDENTS.c.openid == bindparam("resident"))
    .values(cs_sent=bindparam("sent"), updated_at=bindparam("at"))
)


async def lock_residents(
    session: AsyncSession, openids: Iterable[str]
) -> dict[str, ResidentWindow]:
    """The rows of these residents (those ever seen), locked until the transaction ends,
    so concurrent senders never hand out more customer-service pushes than the quota.
    What is counted on them is written by :func:`save_windows`."""
    wanted = sorted(set(openids))
    if not wanted:
        return {}
    result = await (await session.connection()).execute(_LOCK, {"openids": wanted})
    return {
        openid: ResidentWindow(openid, inbound, sent, updated, loaded_sent=sent)
        for openid, inbound, sent, updated in result
    }


async def save_windows(session: AsyncSession, windows: Iterable[ResidentWindow]) -> None:
    """Write the counts taken on locked ``windows`` (one executemany, none if none)."""
    rows = [
        {"resident": w.openid, "sent": w.cs_sent, "at": w.updated_at}
        for w in windows
        if w.cs_sent != w.loaded_sent
    ]
    if rows:
        await (await session.connection()).execute(_SAVE, rows)
