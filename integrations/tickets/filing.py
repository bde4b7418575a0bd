"""Filing a ticket: the one place a ticket comes into being, whatever the channel.

A ticket is written in one transaction with its first timeline entry, the push telling the
resident (when staff filed it for them) and the outbox job that delivers it to the dispatch
system, so a ticket is never stored without the job that delivers it (nor a job without its
ticket). Filing again with the same ``source_key`` returns the first ticket.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, inspect, or_, select
from sqlalchemy.exc import IntegrityError

from integrations.analytics.areas import AreaLocator
from integrations.db.models import DispatchJobRow, PushJobRow, TicketRow, TimelineRow
from integrations.tickets.core import (
    Core,
    CoreService,
    dispatch_values,
    event_values,
    load_tickets,
    next_ticket_id,
    status_push,
    to_ticket,
)
from integrations.tickets.errors import InvalidTicket
from integrations.tickets.fields import clean
from integrations.tickets.model import OutboxJob, Ticket, TimelineEntry
from policies.place_key import place_key
from policies.tickets import (
    CHANNELS,
    DEFAULT_GRID,
    REPEAT_WINDOW,
    repeat_place,
    timeline_filed,
    timeline_repeat,
)
from privacy import redact

__all__ = ["MAX_CHAT_LINES", "MAX_PHOTOS", "TicketFiling"]

log = logging.getLogger(__name__)

MAX_PHOTOS = 9
MAX_CHAT_LINES = 40

_TICKETS = cast(Table, TicketRow.__table__)
_EVENTS = cast(Table, TimelineRow.__table__)
_PUSHES = cast(Table, PushJobRow.__table__)
_JOBS = cast(Table, DispatchJobRow.__table__)
#: a new job's columns not in :func:`dispatch_values` (id aside) are all empty
_JOB_FIELDS = tuple(f.name for f in fields(OutboxJob))


class TicketFiling(CoreService):
    """Files tickets: from the WeChat conversation, from staff (phone, walk-in), and the
    complaints kept while the database was away. ``areas`` names the street and community
    a location lies in (analytics count by area)."""

    def __init__(self, core: Core, areas: AreaLocator) -> None:
        super().__init__(core)
        self.areas = areas

    async def file(
        self,
        *,
        category: str,
        description: str,
        location: str,
        phone: str = "",
        openid: str | None = None,
        urgent: bool | None = None,
        channel: str = "wechat",
        photos: Sequence[str] = (),
        latitude: float | None = None,
        longitude: float | None = None,
        actor: str | None = None,
        chat: Sequence[Mapping[str, str]] = (),
        source_key: str | None = None,
        repeat_of: str | None = None,
    ) -> Ticket:
        """File a ticket; it is delivered to the dispatch system by the outbox worker.

        ``chat`` is the conversation that produced it (shown to staff with the ticket).
        ``source_key`` names what filed it (a WeChat message): filing again with the same
        key returns the ticket filed the first time instead of a second one.

        ``urgent=None`` takes the category's urgency from the taxonomy. ``actor`` defaults
        to ``resident:<openid>`` on WeChat, else ``staff``. A complaint from the same
        resident (openid, else phone) about the same category at the same place within 30
        days is linked to the first (``repeat_of``; given explicitly by a 回访 that found
        the problem back). Raises :class:`InvalidTicket`.
        """
        taxonomy = self.core.taxonomy
        if category not in taxonomy.report_ids:
            raise InvalidTicket(
                f"unknown category {category!r}: use a report.* id of the taxonomy"
            )
        if channel not in CHANNELS:
            raise InvalidTicket(
                f"unknown channel {channel!r}; one of {', '.join(sorted(CHANNELS))}"
            )
        if isinstance(photos, str):
            photos = [photos]  # one URL or media id, not a sequence of characters
        photo_list = [str(p).strip() for p in photos if str(p).strip()]
        if len(photo_list) > MAX_PHOTOS:
            raise InvalidTicket(f"at most {MAX_PHOTOS} photos")
        openid = (openid or "").strip() or None
        is_urgent = taxonomy.is_urgent(category) if urgent is None else bool(urgent)
        now = self.core.now()
        area = self.areas.locate(location)
        where = place_key(location)
        row = TicketRow(
            openid=openid,
            category=category,
            description=clean(description, "description", required=True, resident_words=True),
            location=clean(location, "location", required=True, resident_words=True),
            phone=clean(phone, "phone", required=False, limit=64),
            photos=photo_list,
            chat=_chat(chat),
            latitude=latitude,
            longitude=longitude,
            urgent=is_urgent,
            department=taxonomy.department(category) or DEFAULT_GRID,
            street=area.street,
            community=area.community,
            level=self.core.sla.initial_level,
            status="received",
            channel=channel,
            generation=1,
            created_at=now,
            updated_at=now,
            source_key=source_key,
            overdue_count=0,
            place=repeat_place(where.keys, where.number),
            repeat_of=repeat_of,
        )
        # 签收 and 办结 count from now (the dispatch follows at once), in working time.
        self.core.clocks.start(row, now)
        if actor is None:
            actor = f"resident:{openid}" if openid and channel == "wechat" else "staff"
        try:
            ticket = await self._insert(row, actor, now)
        except IntegrityError:
            # The same message filed before (a retry, a deferred filing done twice) or at
            # this moment by another process: keep that ticket. The unique key decides, so
            # the usual case costs no extra read.
            existing = await self._by_source_key(source_key) if source_key else None
            if existing is None:
                raise
            return existing
        self.core.notify()
        log.info("ticket %s filed (%s, %s)", ticket.id, category, channel)
        return ticket

    async def _insert(self, row: TicketRow, actor: str, now: datetime) -> Ticket:
        # Core inserts, not the ORM: every row here is new and written once, and the unit
        # of work (two flushes, the identity map, fetching ids nobody reads) cost more CPU
        # than SQLite's own work (issue 16). ``row`` only carries the ticket's columns.
        async with self.core.write() as session:
            row.id = await next_ticket_id(session, self.core.local_day(now))
            # The columns the code set (a column it left out gets the column's default).
            values: dict[str, Any] = {
                key: value for key, value in inspect(row).dict.items() if key in _TICKETS.c
            }
            statement = _INSERT_TICKET
            if row.repeat_of is None and row.place is not None and (row.openid or row.phone):
                # The INSERT looks the first complaint up itself: one statement less than
                # a SELECT before it.
                statement = _insert_repeat(bool(row.openid), bool(row.phone))
                values.pop("repeat_of", None)
                values.update(
                    repeat_category=row.category, repeat_place=row.place,
                    repeat_since=now - REPEAT_WINDOW,
                )
                if row.openid:
                    values["repeat_openid"] = row.openid
                if row.phone:
                    values["repeat_phone"] = row.phone
            conn = await session.connection()
            row.repeat_of = (await conn.execute(statement, values)).scalar_one()
            note = timeline_filed(row.channel)
            if row.repeat_of:
                note = f"{note}；{timeline_repeat(row.repeat_of)}"
            event = event_values(
                row, at=now, actor=actor, from_status=None, to_status="received", note=note
            )
            await conn.execute(insert(_EVENTS), event)
            push = status_push(self.core, row, actor=actor, note=note, now=now)
            if push is not None:
                await conn.execute(insert(_PUSHES), push)
            job = dispatch_values(row, now)
            inserted = (await conn.execute(insert(_JOBS), job)).inserted_primary_key
            assert inserted is not None  # a single-row insert always has its key
            job["id"] = inserted[0]
        # Everything the snapshot shows was just written: no need to read it back.
        history = [TimelineEntry(now, actor, None, "received", event["note"])]
        columns: dict[str, Any] = {name: job.get(name) for name in _JOB_FIELDS}
        delivery = OutboxJob(**columns)
        return to_ticket(row, history, delivery)

    async def _by_source_key(self, source_key: str) -> Ticket | None:
        async with self.core.read() as session:
            row = (
                await session.execute(select(TicketRow).where(TicketRow.source_key == source_key))
            ).scalar_one_or_none()
            return (await load_tickets(session, [row]))[0] if row is not None else None


_INSERT_TICKET = insert(_TICKETS).returning(_TICKETS.c.repeat_of)


@functools.cache
def _insert_repeat(by_openid: bool, by_phone: bool) -> Any:
    """The ticket's INSERT that sets ``repeat_of`` to the first ticket of the complaint it
    repeats (same resident — openid or phone —, category and place since
    ``repeat_since``; :data:`REPEAT_WINDOW`), ``NULL`` when there is none. Built once per
    shape; the lookup's values are bound as ``repeat_*``."""
    earlier = _TICKETS.alias("earlier")  # not correlated with the INSERT's own table
    same_resident = []
    if by_openid:
        same_resident.append(earlier.c.openid == bindparam("repeat_openid"))
    if by_phone:
        same_resident.append(earlier.c.phone == bindparam("repeat_phone"))
    first = (
        select(func.coalesce(earlier.c.repeat_of, earlier.c.id))
        .where(
            or_(*same_resident),
            earlier.c.category == bindparam("repeat_category"),
            earlier.c.place == bindparam("repeat_place"),
            earlier.c.created_at >= bindparam("repeat_since", type_=_TICKETS.c.created_at.type),
        )
        .order_by(earlier.c.created_at, earlier.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return _INSERT_TICKET.values(repeat_of=first)


def _chat(chat: Sequence[Mapping[str, str]]) -> list[dict[str, str]] | None:
    """The conversation's last lines as stored (personal numbers redacted)."""
    lines = [
        {"at": str(c["at"]), "role": str(c["role"]), "text": redact(str(c["text"]))[:2000]}
        for c in chat[-MAX_CHAT_LINES:]
    ]
    return lines or None
