"""When each resident last wrote to us: WeChat's 48-hour customer-service window.

WeChat lets an Official Account send customer-service messages to a resident only within
48 hours of the resident's last message, and only a limited number of them; after that
only template messages get through. The bot records every inbound message here
(:func:`record_inbound`) and the push sender picks the channel from it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import ResidentRow

__all__ = ["record_inbound", "reserve_custom_push"]


async def record_inbound(session: AsyncSession, openid: str, at: datetime) -> None:
    """The resident wrote at ``at``: a new window opens and its push count starts at 0.

    Messages processed out of order never move the window back.
    """
    # (not integrations.tickets.sql.insert_for: this package must not import tickets)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ResidentRow).values(
        openid=openid, last_inbound_at=at, cs_sent=0, updated_at=at
    )
    newer = statement.excluded.last_inbound_at > ResidentRow.last_inbound_at
    upsert = statement.on_conflict_do_update(
        index_elements=[ResidentRow.openid],
        set_={
            "last_inbound_at": case(
                (newer, statement.excluded.last_inbound_at), else_=ResidentRow.last_inbound_at
            ),
            "cs_sent": case((newer, 0), else_=ResidentRow.cs_sent),
            "updated_at": statement.excluded.updated_at,
        },
    )
    await session.execute(upsert)


async def reserve_custom_push(
    session: AsyncSession,
    openid: str,
    *,
    now: datetime,
    decide: Callable[[datetime | None, int], bool],
) -> bool:
    """Take one of the resident's customer-service pushes of the current window, if
    ``decide(last_inbound_at, sent_in_window)`` allows; ``False`` means use the template.

    The resident's row is locked while deciding, so concurrent senders never exceed the
    quota. A taken push stays counted even if the send then fails: WeChat may have counted
    it too (an answer lost in transit), and erring low only means a template instead.
    """
    row = (
        await session.execute(
            select(ResidentRow).where(ResidentRow.openid == openid).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None or not decide(row.last_inbound_at, row.cs_sent):
        return False
    await session.execute(
        update(ResidentRow)
        .where(ResidentRow.openid == openid)
        .values(cs_sent=ResidentRow.cs_sent + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return True
