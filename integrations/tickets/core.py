"""What every ticket transaction needs: sessions, rules, the clock, and the change helpers.

Every write goes through :meth:`Core.write` (``BEGIN IMMEDIATE`` on SQLite) and every
change of a ticket through :func:`record_change`, which writes the timeline entry and, for
a resident with an openid, the push job — in the caller's transaction. The services of
this package (filing, status changes, escalation, rating, …) share one :class:`Core`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from integrations.db.migrate import READONLY, enable_sqlite_transactions, sqlite_writer_lock
from integrations.db.models import (
    Base,
    DispatchJobRow,
    PushAttemptRow,
    PushJobRow,
    TicketCounterRow,
    TicketRow,
    TicketWarningRow,
    TimelineRow,
)
from integrations.notify.queue import push_job_values
from integrations.tickets.clocks import TicketClocks, stop_clocks
from integrations.tickets.config import TicketConfig
from integrations.tickets.errors import (
    IllegalTransition,
    InvalidTicket,
    TicketError,
    TicketNotFound,
)
from integrations.tickets.model import (
    OutboxJob,
    Ticket,
    TicketWarning,
    TimelineEntry,
    from_row,
)
from integrations.tickets.sql import Clock, insert_for, update_by_id
from policies.taxonomy import Taxonomy
from policies.tickets import (
    Refusal,
    SlaRules,
    escalation_wording,
    format_ticket_id,
    next_level,
    status_push_text,
    status_template_fields,
)
from privacy import mask_openid, redact

__all__ = [
    "Core",
    "CoreService",
    "TicketState",
    "add_event",
    "cancel_open_jobs",
    "change_values",
    "dispatch_values",
    "enqueue_dispatch",
    "escalate",
    "event_values",
    "idempotency_key",
    "insert_appended",
    "load_tickets",
    "lock_states",
    "lock_ticket",
    "locked_ticket",
    "newest_jobs",
    "next_ticket_id",
    "queue_push",
    "record_change",
    "refused",
    "snapshot",
    "status_push",
    "to_job",
    "to_ticket",
    "write_states",
]

log = logging.getLogger("integrations.tickets")


class Core:
    """Shared state of the ticket service, the outbox and the embedded desk."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        config: TicketConfig,
        taxonomy: Taxonomy,
        sla: SlaRules,
        clock: Clock,
        clocks: TicketClocks | None = None,
    ) -> None:
        enable_sqlite_transactions(engine.sync_engine)
        self.engine = engine
        self.config = config
        self.taxonomy = taxonomy
        self.sla = sla
        self.clock = clock
        self.tz: tzinfo = config.tzinfo()
        #: the working-day clocks: calendar, office hours, 签收 and 办结 limits
        self.clocks = clocks or TicketClocks.from_config(config)
        self._writer = async_sessionmaker(engine, expire_on_commit=False)
        # Reads need no transaction of their own on PostgreSQL (READ COMMITTED gives each
        # statement its snapshot either way): autocommit saves the BEGIN and the ROLLBACK,
        # two round trips of a one-statement read. SQLite keeps its read transaction.
        readers: dict[str, Any] = {READONLY: True}
        if engine.dialect.name == "postgresql":
            readers["isolation_level"] = "AUTOCOMMIT"
        self._reader = async_sessionmaker(
            engine.execution_options(**readers), expire_on_commit=False
        )
        #: called after a commit that enqueued work (in-process workers wake up at once)
        self.listeners: list[Callable[[], None]] = []

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on success (on SQLite, after this
        process's other writers: see :func:`integrations.db.migrate.sqlite_writer_lock`)."""
        lock = sqlite_writer_lock(self.engine.sync_engine)
        if lock is None:
            async with self._writer() as session, session.begin():
                yield session
                await insert_appended(session)
            return
        async with lock, self._writer() as session, session.begin():
            yield session
            await insert_appended(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    def now(self) -> datetime:
        return self.clock()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every commit that enqueued a delivery or a push."""
        if not callable(listener):
            raise TypeError("listener must be callable")
        self.listeners.append(listener)

    def notify(self) -> None:
        for listener in self.listeners:
            try:
                listener()
            except Exception:  # a listener must never undo a committed change
                log.exception("outbox listener failed")

    def category_label(self, category: str) -> str:
        return self.taxonomy.label(category)

    def local_day(self, now: datetime) -> str:
        return now.astimezone(self.tz).strftime("%Y%m%d")


#: Rows only ever appended, whose ids their writers never read: timeline entries, push jobs,
#: push attempts (see :func:`insert_appended`).
_APPENDED: tuple[type[Base], ...] = (TimelineRow, PushJobRow, PushAttemptRow)


async def insert_appended(session: AsyncSession) -> None:
    """Write the session's new appended rows (:data:`_APPENDED`) with one Core ``INSERT``
    per table, after flushing everything else.

    The ORM would insert them one ``INSERT … RETURNING id`` at a time on SQLite (it cannot
    match a batch's ids to its objects there) and pay its unit of work for each; nothing
    reads those ids, so a batch of deliveries costs one statement per table instead of one
    per row (issue 16). Rows flushed earlier (before a query in the transaction read them)
    are already written and not touched; the rows keep the order they were added in.
    """
    appended = [obj for obj in session.new if isinstance(obj, _APPENDED)]
    if not appended:
        return
    appended.sort(key=lambda obj: inspect(obj).insert_order or 0)
    for obj in appended:
        session.expunge(obj)
    await session.flush()  # tickets first: the rows refer to them
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for obj in appended:
        table = cast(Table, type(obj).__table__)
        by_table.setdefault(table, []).append(
            {c.key: getattr(obj, c.key) for c in table.c if c.key != "id"}
        )
    conn = await session.connection()
    for table, rows in by_table.items():
        await conn.execute(insert(table), rows)


@dataclass(slots=True)
class TicketState:
    """The columns of a ticket that recording a delivery or a status change reads and
    writes, loaded without the ORM (:func:`lock_states`); :meth:`changes` is what to
    ``UPDATE``. The ORM's entity, identity map and unit of work cost more CPU than the
    statements on the outbox's hot path (issue 16); the rules take either."""

    id: str
    openid: str | None
    category: str
    phone: str
    department: str
    level: str
    status: str
    generation: int
    grid: str | None
    external_id: str | None
    dispatch_token: str | None
    dispatch_backend: str | None
    polled_at: datetime | None
    updated_at: datetime
    signed_at: datetime | None
    completed_at: datetime | None
    next_warning_at: datetime | None
    solved: bool | None
    loaded: tuple[Any, ...] = field(default=(), repr=False)

    def changes(self) -> dict[str, Any]:
        """The columns set to a new value since loading."""
        return {
            name: getattr(self, name)
            for name, old in zip(_STATE_COLUMNS, self.loaded, strict=True)
            if getattr(self, name) != old
        }


_STATE_COLUMNS = tuple(f.name for f in fields(TicketState) if f.name != "loaded")
_TICKETS = cast(Table, TicketRow.__table__)
_LOCK_STATES = (
    select(*(_TICKETS.c[name] for name in _STATE_COLUMNS))
    .where(_TICKETS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_TICKETS.c.id)
    .with_for_update()
)


async def lock_states(session: AsyncSession, ids: Iterable[str]) -> dict[str, TicketState]:
    """The :class:`TicketState` of these tickets, locked in id order (the order every
    transaction locks tickets in) until the transaction ends."""
    result = await (await session.connection()).execute(_LOCK_STATES, {"ids": sorted(ids)})
    return {
        row[0]: TicketState(*row, loaded=tuple(row))  # type: ignore[misc]
        for row in result
    }


async def write_states(session: AsyncSession, states: Iterable[TicketState]) -> None:
    """``UPDATE`` the columns of ``states`` that changed (one statement per set of
    columns)."""
    await update_by_id(session, _TICKETS, {state.id: state.changes() for state in states})


class CoreService:
    """Base of the ticket services: all one needs is the shared :class:`Core`."""

    def __init__(self, core: Core) -> None:
        self.core = core


JobRow = TypeVar("JobRow", DispatchJobRow, PushJobRow)


async def newest_jobs(
    core: Core, kind: type[JobRow], status: str | None, *, limit: int, offset: int
) -> list[JobRow]:
    """Delivery or push jobs (of ``status``, if given), newest first."""
    statement = select(kind)
    if status is not None:
        statement = statement.where(kind.status == status)
    statement = statement.order_by(kind.id.desc()).limit(limit).offset(offset)
    async with core.read() as session:
        return list((await session.execute(statement)).scalars())


def idempotency_key(ticket_id: str, generation: int) -> str:
    """The same for every retry of one dispatch generation, so downstream creates one."""
    return f"{ticket_id}:{generation}"


async def next_ticket_id(session: AsyncSession, day: str) -> str:
    """Take the next number of ``day`` atomically (an upsert on the day's counter row: the
    row lock serialises concurrent creators across processes, a rollback gives it back)."""
    statement = _counter_upsert(insert_for(session))
    number = (await session.execute(statement, {"day": day, "n": 1})).scalar_one()
    return format_ticket_id(day, int(number))


@functools.cache
def _counter_upsert(insert: Callable[..., Any]) -> Any:
    """The day counter's upsert, built once per dialect (its parameters bound per call)."""
    table = TicketCounterRow.__table__
    return (
        insert(table)
        .on_conflict_do_update(index_elements=[table.c.day], set_={"n": table.c.n + 1})
        .returning(table.c.n)
    )


async def lock_ticket(session: AsyncSession, ticket_id: str) -> TicketRow | None:
    """The ticket row, locked until the transaction ends (SQLite: already write-locked)."""
    statement = select(TicketRow).where(TicketRow.id == ticket_id).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def locked_ticket(session: AsyncSession, ticket_id: str) -> TicketRow:
    """:func:`lock_ticket`, raising :class:`TicketNotFound` when there is no such ticket."""
    row = await lock_ticket(session, ticket_id)
    if row is None:
        raise TicketNotFound(ticket_id)
    return row


def add_event(
    session: AsyncSession,
    row: TicketRow,
    *,
    at: datetime,
    actor: str,
    from_status: str | None,
    to_status: str,
    note: str | None,
) -> TimelineRow:
    event = TimelineRow(
        **event_values(
            row, at=at, actor=actor, from_status=from_status, to_status=to_status, note=note
        )
    )
    session.add(event)
    return event


def event_values(
    row: TicketRow | TicketState,
    *,
    at: datetime,
    actor: str,
    from_status: str | None,
    to_status: str,
    note: str | None,
) -> dict[str, Any]:
    """The columns of a timeline entry of ``row`` (for :func:`add_event`, or a Core insert
    where the ORM's unit of work costs more than the row)."""
    return {
        "ticket_id": row.id,
        "at": at,
        "actor": actor,
        "from_status": from_status,
        "to_status": to_status,
        "note": _redact_note(row, note),
    }


def _redact_note(row: TicketRow | TicketState, note: str | None) -> str | None:
    """A timeline note or push text as stored: no ID or card number, nor the resident's own
    phone number (an office's number meant for the resident stays)."""
    return redact(note, keep_phones=True, hide_phones=(row.phone,)) if note else None


def _resident_did_it(row: TicketRow | TicketState, actor: str) -> bool:
    # The resident's own actions (filing on WeChat, rating) are answered in the
    # conversation; pushing them again would only spend their customer-service quota.
    return row.openid is not None and actor == f"resident:{row.openid}"


def record_change(
    session: AsyncSession,
    core: Core,
    row: TicketRow,
    target: str,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    escalated: bool = False,
    rerouted: bool = False,
    push: bool = True,
) -> None:
    """Move ``row`` to ``target`` (rules already checked): the clocks it stops
    (:func:`~integrations.tickets.clocks.stop_clocks`), the timeline entry, and the
    resident's push job (see :func:`queue_push`; ``push=False``: a change between the
    desk and departments the resident need not hear about)."""
    event, push_job = change_values(
        core, row, target, actor=actor, note=note, now=now, escalated=escalated,
        rerouted=rerouted, push=push,
    )
    session.add(TimelineRow(**event))
    if push_job is not None:
        session.add(PushJobRow(**push_job))


def change_values(
    core: Core,
    row: TicketRow | TicketState,
    target: str,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    escalated: bool = False,
    rerouted: bool = False,
    push: bool = True,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What :func:`record_change` does to ``row``, returning the columns of the timeline
    entry and of the push job (``None``: no push) for the caller to insert (with Core)."""
    previous = row.status
    row.status = target
    row.updated_at = now
    stop_clocks(row, target, now)
    if target == "resolved":
        row.solved = None  # every 办结 asks the resident again whether it is solved
    event = event_values(
        row, at=now, actor=actor, from_status=previous, to_status=target, note=note
    )
    push_job = (
        status_push(core, row, actor=actor, note=note, now=now, escalated=escalated,
                    rerouted=rerouted)
        if push
        else None
    )
    return event, push_job


def queue_push(
    session: AsyncSession,
    core: Core,
    row: TicketRow,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    escalated: bool = False,
    rerouted: bool = False,
) -> None:
    """Queue the message telling the resident about ``row``'s (new) status, when they have
    an openid and did not make the change themselves."""
    values = status_push(
        core, row, actor=actor, note=note, now=now, escalated=escalated, rerouted=rerouted
    )
    if values is not None:
        session.add(PushJobRow(**values))


def status_push(
    core: Core,
    row: TicketRow | TicketState,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    escalated: bool = False,
    rerouted: bool = False,
) -> dict[str, Any] | None:
    """The columns of the push job :func:`queue_push` writes, or ``None`` when the
    resident is not to be told (for callers inserting it with Core)."""
    if row.openid is None or _resident_did_it(row, actor):
        return None
    label = core.category_label(row.category)
    status = row.status
    # The wording decides which notes residents read (see status_push_text).
    text = status_push_text(
        ticket_id=row.id,
        category_label=label,
        status=status,
        department=row.department,
        level=row.level,
        note=_redact_note(row, note),
        escalated=escalated,
        rerouted=rerouted,
    )
    log.info("ticket %s → %s: push queued for %s", row.id, status, mask_openid(row.openid))
    return push_job_values(
        ticket_id=row.id,
        openid=row.openid,
        ticket_status=status,
        text=text,
        template_data=status_template_fields(
            ticket_id=row.id, category_label=label, status=status, text=text
        ),
        now=now,
    )


def escalate(core: Core, row: TicketRow, now: datetime) -> str:
    """One level up (if there is one) and new clocks from ``now`` (a ticket signed for
    stays signed for); returns the timeline wording."""
    upper = next_level(row.level)
    if upper is not None:
        row.level = upper
    core.clocks.start(row, now, keep_signed=True)
    return escalation_wording(upper)


def enqueue_dispatch(session: AsyncSession, row: TicketRow, now: datetime) -> DispatchJobRow:
    """The outbox job delivering the ticket's current generation."""
    job = DispatchJobRow(**dispatch_values(row, now))
    session.add(job)
    return job


def dispatch_values(row: TicketRow, now: datetime) -> dict[str, Any]:
    """The columns of the outbox job :func:`enqueue_dispatch` writes (for a Core insert)."""
    return {
        "ticket_id": row.id,
        "generation": row.generation,
        "idempotency_key": idempotency_key(row.id, row.generation),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def cancel_open_jobs(
    session: AsyncSession,
    ticket_id: str,
    now: datetime,
    *,
    reason: str,
    below_generation: int | None = None,
) -> int:
    """Cancel the ticket's pending or parked deliveries (all, or those of generations
    below ``below_generation``): the ticket needs them no more."""
    conditions = [
        DispatchJobRow.ticket_id == ticket_id,
        DispatchJobRow.status.in_(("pending", "parked")),
    ]
    if below_generation is not None:
        conditions.append(DispatchJobRow.generation < below_generation)
    result = await session.execute(
        update(DispatchJobRow)
        .where(*conditions)
        .values(status="cancelled", last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def to_job(row: DispatchJobRow) -> OutboxJob:
    return from_row(OutboxJob, row)


def to_ticket(
    row: TicketRow,
    events: Iterable[TimelineRow | TimelineEntry] = (),
    delivery: DispatchJobRow | OutboxJob | None = None,
    warnings: Iterable[TicketWarningRow] = (),
) -> Ticket:
    """The snapshot of ``row`` with its timeline, latest delivery (a row, or the job as just
    written) and warnings."""
    if isinstance(delivery, DispatchJobRow):
        delivery = to_job(delivery)
    return Ticket(
        id=row.id,
        openid=row.openid,
        category=row.category,
        description=row.description,
        location=row.location,
        phone=row.phone,
        photos=tuple(row.photos or ()),
        latitude=row.latitude,
        longitude=row.longitude,
        urgent=row.urgent,
        department=row.department,
        grid=row.grid,
        level=row.level,
        status=row.status,
        sla_due_at=row.sla_due_at,
        rating=row.rating,
        rating_reason=row.rating_reason,
        channel=row.channel,
        external_id=row.external_id,
        dispatch_backend=row.dispatch_backend,
        generation=row.generation,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=tuple(
            TimelineEntry(e.at, e.actor, e.from_status, e.to_status, e.note) for e in events
        ),
        delivery=delivery,
        chat=tuple(row.chat or ()),
        street=row.street,
        community=row.community,
        clock_started_at=row.clock_started_at,
        sign_due_at=row.sign_due_at,
        signed_at=row.signed_at,
        completed_at=row.completed_at,
        overdue_count=row.overdue_count or 0,
        warnings=tuple(from_row(TicketWarning, w) for w in warnings),
        solved=row.solved,
        supervision=row.supervision,
        follow_up_at=row.follow_up_at,
        follow_up=row.follow_up,
        repeat_of=row.repeat_of,
    )


async def load_tickets(session: AsyncSession, rows: Sequence[TicketRow]) -> list[Ticket]:
    """Snapshots of ``rows`` with their timelines, latest deliveries and warnings (three
    queries)."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    events: dict[str, list[TimelineRow]] = {i: [] for i in ids}
    for event in (
        await session.execute(
            select(TimelineRow)
            .where(TimelineRow.ticket_id.in_(ids))
            .order_by(TimelineRow.at, TimelineRow.id)
        )
    ).scalars():
        events[event.ticket_id].append(event)
    latest: dict[str, DispatchJobRow] = {}
    for job in (
        await session.execute(
            select(DispatchJobRow)
            .where(DispatchJobRow.ticket_id.in_(ids))
            .order_by(DispatchJobRow.generation)
        )
    ).scalars():
        latest[job.ticket_id] = job  # the highest generation wins
    warnings: dict[str, list[TicketWarningRow]] = {i: [] for i in ids}
    for warning in (
        await session.execute(
            select(TicketWarningRow)
            .where(TicketWarningRow.ticket_id.in_(ids))
            .order_by(TicketWarningRow.id)
        )
    ).scalars():
        warnings[warning.ticket_id].append(warning)
    return [
        to_ticket(row, events[row.id], latest.get(row.id), warnings[row.id]) for row in rows
    ]


async def snapshot(session: AsyncSession, row: TicketRow) -> Ticket:
    """The ticket of ``row`` as it stands in this transaction."""
    return (await load_tickets(session, [row]))[0]


def refused(row: TicketRow, target: str, refusal: Refusal) -> TicketError:
    """The error for a change of ``row`` (to ``target``) the rules refuse: something missing
    from the request is :class:`InvalidTicket`, anything else :class:`IllegalTransition`."""
    if refusal.incomplete:
        return InvalidTicket(refusal.reason, text=refusal.text)
    return IllegalTransition(row.id, row.status, target, refusal.reason, text=refusal.text)
