"""The ticket service: what the bot's dialogue, the staff API and dispatch systems call.

Every method is one transaction. Creating a ticket writes the ticket, its first timeline
entry and its outbox job together, so a ticket is never stored without the job that
delivers it (nor a job without its ticket); every later change writes its timeline entry
and the resident's push job in the same transaction as the change.

Free text is redacted before it is stored (:func:`privacy.redact`): ID and bank-card
numbers everywhere (the phone field included); phone numbers in the resident's words
(description, location, rating reason, chat) — the phone field is the one place a phone
number is kept whole; in staff notes the ticket's own phone number (an office's number
for the resident stays). Logs name tickets by id and residents by masked openid only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, delete, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from integrations.db.models import DispatchEventRow, DispatchJobRow, PushJobRow, TicketRow
from integrations.notify import residents
from integrations.tickets.config import TicketConfig
from integrations.tickets.core import (
    Core,
    add_event,
    cancel_open_jobs,
    enqueue_dispatch,
    escalate,
    load_tickets,
    lock_ticket,
    next_ticket_id,
    queue_push,
    record_change,
    to_ticket,
)
from integrations.tickets.errors import (
    IllegalTransition,
    InvalidTicket,
    JobNotFound,
    JobNotRetryable,
    TicketNotFound,
)
from integrations.tickets.model import OutboxJob, PushJob, Ticket
from integrations.tickets.outbox import Outbox
from integrations.tickets.sql import Clock, utcnow
from policies.taxonomy import Taxonomy, load_taxonomy
from policies.tickets import (
    DEFAULT_GRID,
    OPEN_STATUSES,
    RATING_LABELS,
    RATINGS,
    STATUSES,
    WORKING_STATUSES,
    SlaRules,
    load_sla_rules,
    next_level,
    rating_outcome,
    transition_problem,
)
from privacy import mask_text, redact

__all__ = ["CHANNELS", "EVENT_RETENTION", "MAX_TEXT", "EventOutcome", "TicketService"]

log = logging.getLogger("integrations.tickets")

#: What became of a dispatch system's status event (:meth:`TicketService.apply_status_event`).
EventOutcome = Literal["applied", "duplicate", "unknown"]
#: How long applied status events are remembered: far beyond the webhook's ±5-minute
#: replay window, so a sender retrying an event hours later is recognised too.
EVENT_RETENTION = timedelta(days=7)

#: Where a ticket came from.
CHANNELS = frozenset({"wechat", "phone", "walk_in", "web", "app", "email", "other"})
_CHANNEL_LABELS = {
    "wechat": "微信公众号",
    "phone": "电话",
    "walk_in": "现场",
    "web": "网站",
    "app": "App",
    "email": "邮件",
    "other": "其他渠道",
}
MAX_TEXT = 4000
_MAX_PHOTOS = 9
_MAX_CHAT_LINES = 40


def _clean(
    value: str | None,
    name: str,
    *,
    required: bool,
    limit: int = MAX_TEXT,
    resident_words: bool = False,
) -> str:
    """Checked and redacted: ID and card numbers always, phones in ``resident_words``."""
    text = (value or "").strip()
    if required and not text:
        raise InvalidTicket(f"{name} is required")
    if len(text) > limit:
        raise InvalidTicket(f"{name} is longer than {limit} characters")
    return redact(text, keep_phones=not resident_words)


class TicketService:
    """Tickets in the database at ``engine`` (SQLite or PostgreSQL, migrated).

    ``clock`` returns aware UTC datetimes (tests move time with it). ``outbox`` holds the
    delivery jobs the :class:`~integrations.dispatch.worker.OutboxWorker` works off.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        config: TicketConfig | None = None,
        taxonomy: Taxonomy | None = None,
        sla: SlaRules | None = None,
        clock: Clock = utcnow,
    ) -> None:
        config = config or TicketConfig()
        self.core = Core(
            engine,
            config=config,
            taxonomy=taxonomy or load_taxonomy(),
            sla=sla or load_sla_rules(config.sla_file),
            clock=clock,
        )
        self.outbox = Outbox(self.core)

    @property
    def config(self) -> TicketConfig:
        return self.core.config

    @property
    def engine(self) -> AsyncEngine:
        return self.core.engine

    def now(self) -> datetime:
        return self.core.clock()

    def add_listener(self, listener: object) -> None:
        """Call ``listener()`` after every commit that enqueued a delivery or a push."""
        if not callable(listener):
            raise TypeError("listener must be callable")
        self.core.listeners.append(listener)

    # -- creating and reading ------------------------------------------------------------

    async def create(
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
    ) -> Ticket:
        """File a ticket; it is delivered to the dispatch system by the outbox worker.

        ``chat`` is the conversation that produced it (shown to staff with the ticket).
        ``source_key`` names what filed it (a WeChat message): filing again with the same
        key returns the ticket filed the first time instead of a second one.

        ``urgent=None`` takes the category's urgency from the taxonomy. ``actor`` defaults
        to ``resident:<openid>`` on WeChat, else ``staff``.
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
        description = _clean(description, "description", required=True, resident_words=True)
        location = _clean(location, "location", required=True, resident_words=True)
        phone = _clean(phone, "phone", required=False, limit=64)
        openid = (openid or "").strip() or None
        if isinstance(photos, str):
            photos = [photos]  # one URL or media id, not a sequence of characters
        photo_list = [str(p).strip() for p in photos if str(p).strip()]
        if len(photo_list) > _MAX_PHOTOS:
            raise InvalidTicket(f"at most {_MAX_PHOTOS} photos")
        is_urgent = taxonomy.is_urgent(category) if urgent is None else bool(urgent)
        if actor is None:
            actor = f"resident:{openid}" if openid and channel == "wechat" else "staff"
        now = self.now()
        sla = self.core.sla
        try:
            snapshot = await self._insert(
                category=category, description=description, location=location, phone=phone,
                openid=openid, is_urgent=is_urgent, channel=channel, photos=photo_list,
                latitude=latitude, longitude=longitude, actor=actor, chat=chat,
                source_key=source_key, now=now, sla=sla,
            )
        except IntegrityError:
            # The same message filed before (a retry, a deferred filing done twice) or at
            # this moment by another process: keep that ticket. The unique key decides, so
            # the usual case costs no extra read.
            if source_key is None:
                raise
            existing = await self._by_source_key(source_key)
            if existing is None:
                raise
            return existing
        self.core.notify()
        log.info("ticket %s filed (%s, %s)", snapshot.id, category, channel)
        return snapshot

    async def _by_source_key(self, source_key: str) -> Ticket | None:
        async with self.core.read() as session:
            row = (
                await session.execute(select(TicketRow).where(TicketRow.source_key == source_key))
            ).scalar_one_or_none()
            return (await load_tickets(session, [row]))[0] if row is not None else None

    async def _insert(
        self,
        *,
        category: str,
        description: str,
        location: str,
        phone: str,
        openid: str | None,
        is_urgent: bool,
        channel: str,
        photos: list[str],
        latitude: float | None,
        longitude: float | None,
        actor: str,
        chat: Sequence[Mapping[str, str]],
        source_key: str | None,
        now: datetime,
        sla: SlaRules,
    ) -> Ticket:
        taxonomy = self.core.taxonomy
        photo_list = photos
        async with self.core.write() as session:
            ticket_id = await next_ticket_id(session, self.core.local_day(now))
            row = TicketRow(
                id=ticket_id,
                openid=openid,
                category=category,
                description=description,
                location=location,
                phone=phone,
                photos=photo_list,
                chat=[
                    {
                        "at": str(c["at"]),
                        "role": str(c["role"]),
                        "text": redact(str(c["text"]))[:2000],
                    }
                    for c in chat[-_MAX_CHAT_LINES:]
                ]
                or None,
                latitude=latitude,
                longitude=longitude,
                urgent=is_urgent,
                department=taxonomy.department(category) or DEFAULT_GRID,
                level=sla.initial_level,
                status="received",
                sla_due_at=sla.due_at(category, is_urgent, now),
                channel=channel,
                generation=1,
                created_at=now,
                updated_at=now,
                source_key=source_key,
            )
            session.add(row)
            await session.flush()  # the ticket row first: the rows below refer to it
            note = f"渠道：{_CHANNEL_LABELS[channel]}"
            event = add_event(
                session, row, at=now, actor=actor, from_status=None, to_status="received",
                note=note,
            )
            queue_push(session, self.core, row, actor=actor, note=note, now=now)
            job = enqueue_dispatch(session, row, now)
            await session.flush()
            # Everything the snapshot shows was just written: no need to read it back.
            return to_ticket(row, [event], job)

    async def find(self, ticket_id: str) -> Ticket | None:
        async with self.core.read() as session:
            row = await session.get(TicketRow, ticket_id)
            if row is None:
                return None
            return (await load_tickets(session, [row]))[0]

    async def get(self, ticket_id: str) -> Ticket:
        """The ticket; raises :class:`TicketNotFound`."""
        ticket = await self.find(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    async def list_tickets(
        self,
        *,
        openid: str | None = None,
        statuses: Iterable[str] | None = None,
        category: str | None = None,
        urgent: bool | None = None,
        overdue: bool | None = None,
        department: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Ticket]:
        """Tickets matching every given filter, newest first.

        ``search``: every whitespace-separated word must occur in the ticket's id, its
        description or its location (case-insensitive substring, wildcards taken literally).
        """
        statement = select(TicketRow).where(
            *self._filters(openid, statuses, category, urgent, overdue, department, search)
        )
        statement = (
            statement.order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        )
        async with self.core.read() as session:
            rows = list((await session.execute(statement)).scalars())
            return await load_tickets(session, rows)

    async def count_tickets(
        self,
        *,
        openid: str | None = None,
        statuses: Iterable[str] | None = None,
        category: str | None = None,
        urgent: bool | None = None,
        overdue: bool | None = None,
        department: str | None = None,
        search: str | None = None,
    ) -> int:
        """How many tickets :meth:`list_tickets` would page through with these filters."""
        statement = (
            select(func.count())
            .select_from(TicketRow)
            .where(*self._filters(openid, statuses, category, urgent, overdue, department, search))
        )
        async with self.core.read() as session:
            return int((await session.execute(statement)).scalar_one())

    def _filters(
        self,
        openid: str | None,
        statuses: Iterable[str] | None,
        category: str | None,
        urgent: bool | None,
        overdue: bool | None,
        department: str | None,
        search: str | None,
    ) -> list[ColumnElement[bool]]:
        wanted = list(statuses) if statuses is not None else None
        for status in wanted or ():
            if status not in STATUSES:
                raise InvalidTicket(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        conditions: list[ColumnElement[bool]] = []
        if openid is not None:
            conditions.append(TicketRow.openid == openid)
        if wanted is not None:
            conditions.append(TicketRow.status.in_(wanted))
        if category is not None:
            conditions.append(TicketRow.category == category)
        if urgent is not None:
            conditions.append(TicketRow.urgent.is_(urgent))
        if overdue is not None:
            late = and_(TicketRow.status.in_(WORKING_STATUSES), TicketRow.sla_due_at < self.now())
            conditions.append(late if overdue else not_(late))
        if department is not None:
            conditions.append(TicketRow.department == department)
        for word in (search or "").split()[:10]:
            word = word[:100]
            conditions.append(
                or_(
                    TicketRow.id.icontains(word, autoescape=True),
                    TicketRow.description.icontains(word, autoescape=True),
                    TicketRow.location.icontains(word, autoescape=True),
                )
            )
        return conditions

    async def list_for_resident(
        self, openid: str, open_only: bool = True, limit: int = 20
    ) -> list[Ticket]:
        """A resident's tickets, newest first; ``open_only``: not closed or rejected
        (resolved ones are included: they wait for the resident's rating)."""
        return await self.list_tickets(
            openid=openid, statuses=OPEN_STATUSES if open_only else None, limit=limit
        )

    async def last_phone(self, openid: str) -> str | None:
        """The phone of the resident's latest ticket (offered for reuse, with consent)."""
        async with self.core.read() as session:
            phone = (
                await session.execute(
                    select(TicketRow.phone)
                    .where(TicketRow.openid == openid, TicketRow.phone != "")
                    .order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        return phone

    # -- changes --------------------------------------------------------------------------

    async def transition(
        self, ticket_id: str, status: str, *, note: str | None = None, actor: str = "system"
    ) -> Ticket:
        """Move a ticket to ``status`` by the rules of :mod:`policies.tickets`.

        Raises :class:`InvalidTicket` (unknown status; rejection without a note),
        :class:`TicketNotFound`, :class:`IllegalTransition` (names from and to).
        """
        if status not in STATUSES:
            raise InvalidTicket(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        note = _clean(note, "note", required=status == "rejected") or None
        now = self.now()
        async with self.core.write() as session:
            row = await lock_ticket(session, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            problem = transition_problem(row.status, status, note=note)
            if problem is not None:
                raise IllegalTransition(ticket_id, row.status, status, problem)
            record_change(session, self.core, row, status, actor=actor, note=note, now=now)
            if status in ("resolved", "rejected"):
                await cancel_open_jobs(session, row.id, now, reason=f"ticket {status} first")
            snapshot = (await load_tickets(session, [row]))[0]
        self.core.notify()
        log.info("ticket %s → %s by %s", ticket_id, status, _actor_kind(actor))
        return snapshot

    async def rate(
        self,
        ticket_id: str,
        rating: str,
        reason: str | None = None,
        *,
        openid: str | None = None,
        actor: str | None = None,
    ) -> Ticket:
        """The resident's rating of a resolved ticket.

        satisfied / basically_satisfied → ``closed``; unsatisfied → ``reopened`` with the
        reason recorded, one level up, a new deadline and a new delivery (next generation).
        ``openid``: the rating must come from the ticket's resident (else not found).
        """
        if rating not in RATINGS:
            raise InvalidTicket(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
        reason = _clean(reason, "reason", required=False, resident_words=True) or None
        target = rating_outcome(rating)
        now = self.now()
        async with self.core.write() as session:
            row = await lock_ticket(session, ticket_id)
            if row is None or (openid is not None and row.openid != openid):
                raise TicketNotFound(ticket_id)
            if row.status != "resolved":
                raise IllegalTransition(
                    ticket_id,
                    row.status,
                    target,
                    f"only a resolved ticket can be rated (it is {row.status})",
                )
            who = actor or (f"resident:{row.openid}" if row.openid else "staff")
            row.rating, row.rating_reason = rating, reason
            note = f"评价：{RATING_LABELS[rating]}" + (f"（{reason}）" if reason else "")
            if target == "reopened":
                note += "；" + escalate(self.core.sla, row, now)
                row.generation += 1
                record_change(session, self.core, row, target, actor=who, note=note, now=now)
                enqueue_dispatch(session, row, now)
            else:
                record_change(session, self.core, row, target, actor=who, note=note, now=now)
            snapshot = (await load_tickets(session, [row]))[0]
        self.core.notify()
        log.info("ticket %s rated %s → %s", ticket_id, rating, target)
        return snapshot

    async def department_return(
        self,
        ticket_id: str,
        note: str,
        *,
        actor: str = "staff",
        department: str | None = None,
    ) -> Ticket:
        """A department sends the ticket back (退单): it is not a rejection to the resident
        but an escalation — one level up, a new deadline, ``department`` if given, and a
        new delivery — and the ticket stays open (``dispatched``).

        Raises :class:`IllegalTransition` unless the ticket sits at a department
        (dispatched / in progress) below the city level.
        """
        note = _clean(note, "note", required=True)
        department = _clean(department, "department", required=False, limit=64) or None
        now = self.now()
        async with self.core.write() as session:
            row = await lock_ticket(session, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            await self._return(session, row, note, actor, department, now)
            snapshot = (await load_tickets(session, [row]))[0]
        self.core.notify()
        return snapshot

    async def assign(
        self,
        ticket_id: str,
        *,
        department: str | None = None,
        grid: str | None = None,
        note: str | None = None,
        actor: str = "staff",
    ) -> Ticket:
        """Staff choose the department and/or grid (网格) responsible for a ticket.

        Not a status change: a timeline entry (``from == to``) records it, the resident is
        not told (it is internal), and nothing is re-delivered — a ticket not yet delivered
        goes to the new department; for one already at an external dispatch system the
        change is recorded here only (a department return re-dispatches).

        Raises :class:`IllegalTransition` unless work is still owed on the ticket (received,
        dispatched, in progress, reopened), :class:`InvalidTicket` when nothing changes.
        """
        department = _clean(department, "department", required=False, limit=64) or None
        grid = _clean(grid, "grid", required=False, limit=64) or None
        note = _clean(note, "note", required=False) or None
        now = self.now()
        async with self.core.write() as session:
            row = await lock_ticket(session, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            if row.status not in WORKING_STATUSES:
                raise IllegalTransition(
                    ticket_id,
                    row.status,
                    row.status,
                    f"only an open ticket still being worked on can be assigned "
                    f"(it is {row.status})",
                )
            changes: list[str] = []
            if department and department != row.department:
                row.department = department
                changes.append(f"责任部门：{department}")
            if grid and grid != row.grid:
                row.grid = grid
                changes.append(f"网格：{grid}")
            if not changes:
                raise InvalidTicket("nothing to change: same department and grid")
            row.updated_at = now
            text = "指派 " + "，".join(changes) + (f"（{note}）" if note else "")
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=text,
            )
            snapshot = (await load_tickets(session, [row]))[0]
        log.info("ticket %s assigned by %s", ticket_id, _actor_kind(actor))
        return snapshot

    async def escalate_ticket(self, ticket_id: str, reason: str, *, actor: str = "staff") -> Ticket:
        """Staff escalate an open ticket one level (督办) with a reason: a new deadline and
        a timeline entry; the status and the dispatch stay as they are.

        Raises :class:`IllegalTransition` unless work is still owed on the ticket or when it
        is already at the city level, :class:`InvalidTicket` without a reason.
        """
        reason = _clean(reason, "reason", required=True)
        now = self.now()
        async with self.core.write() as session:
            row = await lock_ticket(session, ticket_id)
            if row is None:
                raise TicketNotFound(ticket_id)
            if row.status not in WORKING_STATUSES or next_level(row.level) is None:
                raise IllegalTransition(
                    ticket_id,
                    row.status,
                    row.status,
                    "only an open ticket below the city level can be escalated",
                )
            wording = escalate(self.core.sla, row, now)
            row.updated_at = now
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=f"人工升级：{reason}；{wording}",
            )
            snapshot = (await load_tickets(session, [row]))[0]
        log.info("ticket %s escalated by %s", ticket_id, _actor_kind(actor))
        return snapshot

    async def _return(
        self,
        session: AsyncSession,
        row: TicketRow,
        note: str,
        actor: str,
        department: str | None,
        now: datetime,
    ) -> None:
        if row.status not in ("dispatched", "in_progress"):
            raise IllegalTransition(
                row.id,
                row.status,
                "dispatched",
                f"only a dispatched or in-progress ticket can be returned (it is {row.status})",
            )
        if next_level(row.level) is None:
            raise IllegalTransition(
                row.id,
                row.status,
                "dispatched",
                "the ticket is already at the city level: resolve it, or reject it with a reason",
            )
        if department:
            row.department = department
        escalation = escalate(self.core.sla, row, now)
        row.generation += 1
        record_change(
            session,
            self.core,
            row,
            "dispatched",
            actor=actor,
            note=f"部门退回：{note}；{escalation}",
            now=now,
            escalated=True,
        )
        # The new generation replaces deliveries of earlier ones still waiting.
        await cancel_open_jobs(
            session, row.id, now, reason="superseded by a re-dispatch",
            below_generation=row.generation,
        )
        enqueue_dispatch(session, row, now)

    async def apply_external_status(
        self,
        ticket_id: str | None,
        external_id: str | None,
        status: str,
        note: str | None,
        actor: str,
    ) -> bool:
        """A status reported by a dispatch system (poll or webhook); ``False`` when the
        ticket is unknown. The signature is the webhook's ``ApplyStatus``.

        Reports are applied when the status machine allows them and ignored otherwise
        (stale or out of order; repeated ones are no-ops): ``closed`` counts as
        ``resolved`` (closing is the resident's rating); ``rejected`` is a department
        return (escalation, see :meth:`department_return`), at the city level only noted.
        """
        target, note = self._reported(status, note)
        now = self.now()
        async with self.core.write() as session:
            row = await _find_for_external(session, ticket_id, external_id)
            if row is None:
                return False
            await self._apply_reported(session, row, target, external_id, note, actor, now)
        self.core.notify()
        return True

    async def apply_status_event(
        self,
        event_id: str,
        ticket_id: str | None,
        external_id: str | None,
        status: str,
        note: str | None,
        actor: str,
    ) -> EventOutcome:
        """Like :meth:`apply_external_status`, once per ``event_id``: the event is recorded
        in the transaction that applies it (table ``dispatch_events``, kept
        :data:`EVENT_RETENTION`), so the same event again — a sender's retry, a replay after
        a restart — answers ``"duplicate"`` and changes nothing; ``"unknown"``: no such
        ticket (nothing recorded, so a retry once it exists is applied)."""
        target, note = self._reported(status, note)
        now = self.now()
        try:
            async with self.core.write() as session:
                # The ticket's row lock first: a concurrent delivery of the same event waits
                # here and then sees this one's record.
                row = await _find_for_external(session, ticket_id, external_id)
                if await session.get(DispatchEventRow, event_id) is not None:
                    return "duplicate"
                if row is None:
                    return "unknown"
                await self._apply_reported(session, row, target, external_id, note, actor, now)
                session.add(
                    DispatchEventRow(
                        event_id=event_id, ticket_id=row.id, status=status, received_at=now
                    )
                )
                await session.execute(
                    delete(DispatchEventRow).where(
                        DispatchEventRow.received_at < now - EVENT_RETENTION
                    )
                )
        except IntegrityError:
            # Two deliveries that found no ticket row to queue on (or raced on the insert):
            # the one that committed first applied it.
            async with self.core.read() as session:
                if await session.get(DispatchEventRow, event_id) is not None:
                    return "duplicate"
            raise
        self.core.notify()
        return "applied"

    @staticmethod
    def _reported(status: str, note: str | None) -> tuple[str, str | None]:
        target = "resolved" if status == "closed" else status
        if target not in STATUSES:
            raise InvalidTicket(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        return target, _clean(note, "note", required=False) or None

    async def _apply_reported(
        self,
        session: AsyncSession,
        row: TicketRow,
        target: str,
        external_id: str | None,
        note: str | None,
        actor: str,
        now: datetime,
    ) -> None:
        if external_id is not None and row.external_id not in (None, external_id):
            log.info("ticket %s: report about an earlier dispatch ignored", row.id)
            return
        if target == "rejected":
            if row.status in ("dispatched", "in_progress") and next_level(row.level):
                await self._return(session, row, note or "未说明原因", actor, None, now)
            elif row.status in OPEN_STATUSES:
                add_event(
                    session, row, at=now, actor=actor, from_status=row.status,
                    to_status=row.status, note=f"下游退回：{note or '未说明原因'}；需人工处理",
                )
                row.updated_at = now
        elif target == row.status or target in ("received", "reopened"):
            pass  # a repeat, or a status only we set
        elif transition_problem(row.status, target, note=note) is None:
            record_change(session, self.core, row, target, actor=actor, note=note, now=now)
            if target == "resolved":
                await cancel_open_jobs(session, row.id, now, reason="resolved downstream")
        else:
            log.info("ticket %s: %s → %s reported by %s ignored", row.id, row.status,
                     target, actor)

    async def escalate_overdue(self, *, backend: str = "embedded", limit: int = 100) -> int:
        """Escalate tickets at ``backend``'s desk that passed their SLA deadline: one level
        up (at the city level: city supervision), a new deadline, a timeline entry.

        Several workers may run this at once: the conditional re-check under the row lock
        escalates each ticket once per deadline.
        """
        now = self.now()
        due = and_(
            TicketRow.dispatch_backend == backend,
            TicketRow.status.in_(("dispatched", "in_progress")),
            TicketRow.sla_due_at < now,
        )
        async with self.core.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(TicketRow.id).where(due).order_by(TicketRow.sla_due_at).limit(limit)
                    )
                ).scalars()
            )
        done = 0
        for ticket_id in ids:
            async with self.core.write() as session:
                row = (
                    await session.execute(
                        select(TicketRow).where(TicketRow.id == ticket_id, due).with_for_update()
                    )
                ).scalar_one_or_none()
                if row is None:
                    continue  # another worker got there first, or staff moved it
                deadline = f"{row.sla_due_at.astimezone(self.core.tz):%m-%d %H:%M}"
                escalation = escalate(self.core.sla, row, now)
                row.updated_at = now
                add_event(
                    session, row, at=now, actor="system", from_status=row.status,
                    to_status=row.status, note=f"超过办理时限（{deadline}）；{escalation}",
                )
                done += 1
        if done:
            log.info("escalated %d overdue tickets", done)
        return done

    # -- residents -----------------------------------------------------------------------

    async def record_inbound(self, openid: str, at: datetime | None = None) -> None:
        """The resident wrote to us at ``at`` (now): their 48-hour window (re)opens."""
        await self.record_inbound_many([(openid, at or self.now())])

    async def record_inbound_many(self, items: Sequence[tuple[str, datetime]]) -> None:
        """Several residents' latest messages in one transaction."""
        if not items:
            return
        latest: dict[str, datetime] = {}
        for openid, at in items:
            latest[openid] = max(at, latest.get(openid, at))
        async with self.core.write() as session:
            # Sorted: one lock order for every writer.
            await residents.record_inbound_many(session, sorted(latest.items()))

    # -- outbox and pushes, for staff ----------------------------------------------------

    async def outbox_jobs(
        self, status: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[OutboxJob]:
        return await self.outbox.jobs(status, limit=limit, offset=offset)

    async def retry_outbox_job(self, job_id: int, *, actor: str = "staff") -> OutboxJob:
        return await self.outbox.requeue(job_id, actor=actor)

    async def push_jobs(
        self, status: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[PushJob]:
        statement = select(PushJobRow)
        if status is not None:
            statement = statement.where(PushJobRow.status == status)
        statement = statement.order_by(PushJobRow.id.desc()).limit(limit).offset(offset)
        async with self.core.read() as session:
            return [_to_push(row) for row in (await session.execute(statement)).scalars()]

    async def retry_push_job(self, job_id: int) -> PushJob:
        """Queue a failed push again, with fresh attempts."""
        now = self.now()
        async with self.core.write() as session:
            row = await session.get(PushJobRow, job_id, with_for_update=True)
            if row is None:
                raise JobNotFound(f"no push job {job_id}")
            if row.status != "failed":
                raise JobNotRetryable(f"push job {job_id} is {row.status}, not failed")
            row.status, row.attempts, row.next_attempt_at = "pending", 0, now
            row.claimed_by, row.lease_until, row.updated_at = None, None, now
            snapshot = _to_push(row)
        self.core.notify()
        return snapshot


async def _find_for_external(
    session: AsyncSession, ticket_id: str | None, external_id: str | None
) -> TicketRow | None:
    if ticket_id:
        return await lock_ticket(session, ticket_id)
    if not external_id:
        return None
    statement = select(TicketRow).where(TicketRow.external_id == external_id).with_for_update()
    row = (await session.execute(statement)).scalars().first()
    if row is not None:
        return row
    # An id of an earlier generation: known, but its news is stale.
    owner = (
        await session.execute(
            select(DispatchJobRow.ticket_id).where(DispatchJobRow.external_id == external_id)
        )
    ).scalars().first()
    return await lock_ticket(session, owner) if owner else None


def _actor_kind(actor: str) -> str:
    """``staff:张三`` → ``staff`` in logs (names of people stay out of them)."""
    return mask_text(actor.split(":", 1)[0])


def _to_push(row: PushJobRow) -> PushJob:
    return PushJob(
        id=row.id,
        ticket_id=row.ticket_id,
        openid=row.openid,
        ticket_status=row.ticket_status,
        text=row.text,
        status=row.status,
        attempts=row.attempts,
        via=row.via,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )

