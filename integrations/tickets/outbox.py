"""The transactional outbox of dispatch deliveries: claiming, recording outcomes, re-queueing.

A job is one delivery of one *generation* of a ticket (1 at creation, +1 on every
re-dispatch after an unsatisfied rating or a department return). Its idempotency key,
``<ticket id>:<generation>``, is the same for every retry of the job, so a dispatch system
that honours it creates one ticket however often we retry. Jobs are claimed with a lease
(:func:`integrations.tickets.sql.claim_due`); outcomes are recorded here:

* success → ``delivered``, the ticket gets the downstream id and moves to ``dispatched``;
* ``DispatchUnavailable`` or an unexpected error → back to ``pending`` after an exponential
  backoff, ``parked`` once ``outbox_max_attempts`` claims have failed;
* ``DispatchRejected`` → ``parked`` at once.

Parked jobs stay until staff re-queue them (:meth:`Outbox.requeue`); nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, insert, nulls_first, select, update

from integrations.db.models import DispatchJobRow, PushJobRow, TicketRow, TimelineRow
from integrations.dispatch.base import DispatchReceipt, DispatchRequest
from integrations.tickets.core import (
    Core,
    CoreService,
    TicketState,
    add_event,
    change_values,
    event_values,
    lock_states,
    lock_ticket,
    newest_jobs,
    to_job,
    write_states,
)
from integrations.tickets.errors import JobNotFound, JobNotRetryable
from integrations.tickets.model import OutboxJob
from integrations.tickets.sql import claim_due, claim_statement, update_by_id
from policies.tickets import (
    AT_DEPARTMENT,
    TERMINAL_STATUSES,
    TIMELINE_REQUEUED,
    UNDISPATCHED,
    timeline_delivered,
    timeline_delivered_too_late,
    timeline_external_id,
    timeline_parked,
    transition_refusal,
)
from privacy import mask_text

__all__ = ["ClaimedJob", "Outbox", "Outcome", "PendingToken"]

log = logging.getLogger("integrations.tickets.outbox")

_MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease of, with what to send (``request`` is ``None``
    when the ticket no longer needs the delivery; the claim has cancelled the job)."""

    id: int
    ticket_id: str
    generation: int
    idempotency_key: str
    attempts: int
    request: DispatchRequest | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery: a receipt, or an error (``permanent``: park at once)."""

    job: ClaimedJob
    receipt: DispatchReceipt | None = None
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class PendingToken:
    """A delivery whose dispatch system answered with a token instead of an id."""

    ticket_id: str
    generation: int
    token: str
    delivered_at: datetime | None


def _error_text(error: str) -> str:
    # Dispatch errors may quote the request (addresses, phones): mask before storing.
    return mask_text(error)[:_MAX_ERROR]


def _request(row: Any, key: str) -> DispatchRequest:
    # ``row``: a row of _READ_REQUESTS (or a TicketRow: the same attributes).
    return DispatchRequest(
        ticket_id=row.id,
        idempotency_key=key,
        category=row.category,
        description=row.description,
        location=row.location,
        phone=row.phone,
        urgent=row.urgent,
        department=row.department,
        level=row.level,
        latitude=row.latitude,
        longitude=row.longitude,
        photos=tuple(row.photos or ()),
    )


_JOBS = cast(Table, DispatchJobRow.__table__)
_TICKETS = cast(Table, TicketRow.__table__)
_EVENTS = cast(Table, TimelineRow.__table__)
_PUSHES = cast(Table, PushJobRow.__table__)
# The outbox's statements, built once (building one per call cost more than running it).
_CLAIM = claim_statement(
    DispatchJobRow,
    returning=(_JOBS.c.ticket_id, _JOBS.c.generation, _JOBS.c.idempotency_key,
               _JOBS.c.attempts),
)
_READ_REQUESTS = select(
    _TICKETS.c.id, _TICKETS.c.generation, _TICKETS.c.status, _TICKETS.c.category,
    _TICKETS.c.description, _TICKETS.c.location, _TICKETS.c.phone, _TICKETS.c.urgent,
    _TICKETS.c.department, _TICKETS.c.level, _TICKETS.c.latitude, _TICKETS.c.longitude,
    _TICKETS.c.photos,
).where(_TICKETS.c.id.in_(bindparam("ids", expanding=True)))
_CANCEL = (
    update(_JOBS)
    .where(_JOBS.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status="cancelled", claimed_by=None, lease_until=None,
        last_error="the ticket no longer needs this delivery",
        updated_at=bindparam("now", type_=_JOBS.c.updated_at.type),
    )
)
_LOCK_JOBS = (
    select(_JOBS.c.id, _JOBS.c.ticket_id, _JOBS.c.generation, _JOBS.c.status,
           _JOBS.c.claimed_by, _JOBS.c.attempts)
    .where(_JOBS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_JOBS.c.id)
    .with_for_update()
)


class _LockedJob(NamedTuple):
    """A job as :meth:`Outbox.record` reads it (:data:`_LOCK_JOBS`)."""

    id: int
    ticket_id: str
    generation: int
    status: str
    claimed_by: str | None
    attempts: int


@dataclass(slots=True)
class _Batch:
    """What recording a batch writes besides the tickets: each job's changed columns, and
    the timeline entries and push jobs, inserted at the end (one statement per table)."""

    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)

    def event(
        self,
        row: TicketState,
        *,
        at: datetime,
        actor: str,
        from_status: str | None,
        to_status: str,
        note: str | None,
    ) -> None:
        self.events.append(
            event_values(row, at=at, actor=actor, from_status=from_status,
                         to_status=to_status, note=note)
        )

    def change(
        self,
        core: Core,
        row: TicketState,
        target: str,
        *,
        actor: str,
        note: str | None,
        now: datetime,
        escalated: bool = False,
    ) -> None:
        """:func:`~integrations.tickets.core.record_change`, its rows kept for the batch's
        inserts."""
        event, push = change_values(
            core, row, target, actor=actor, note=note, now=now, escalated=escalated
        )
        self.events.append(event)
        if push is not None:
            self.pushes.append(push)


class Outbox(CoreService):
    """Dispatch jobs in the database (one per ticket generation).

    Work is done in batches: one transaction claims a batch and reads what to send, one
    records the outcomes of the whole batch (:meth:`record`).
    """

    async def claim(self, worker_id: str, limit: int) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs to ``worker_id``, with their requests.

        Jobs whose ticket is finished, or whose generation was replaced by a re-dispatch,
        are cancelled here and come back with ``request=None``.
        """
        now = self.core.clock()
        async with self.core.write() as session:
            jobs = await claim_due(
                session,
                _CLAIM,
                worker_id=worker_id,
                now=now,
                lease_seconds=self.core.config.lease_seconds,
                limit=limit,
            )
            if not jobs:
                return []
            conn = await session.connection()
            ticket_ids = sorted({ticket_id for _, ticket_id, *_ in jobs})
            tickets = {
                row.id: row for row in await conn.execute(_READ_REQUESTS, {"ids": ticket_ids})
            }
            claimed: list[ClaimedJob] = []
            cancelled: list[int] = []
            for job_id, ticket_id, generation, key, attempts in jobs:
                ticket = tickets.get(ticket_id)
                needed = (
                    ticket is not None
                    and generation == ticket.generation
                    and ticket.status not in TERMINAL_STATUSES
                )
                if not needed:
                    cancelled.append(job_id)
                claimed.append(
                    ClaimedJob(
                        job_id,
                        ticket_id,
                        generation,
                        key,
                        attempts,
                        _request(ticket, key) if ticket is not None and needed else None,
                    )
                )
            if cancelled:
                await conn.execute(_CANCEL, {"ids": cancelled, "now": now})
            return claimed

    async def record(self, worker_id: str, backend: str, outcomes: Sequence[Outcome]) -> None:
        """Record the outcomes of a batch delivered to ``backend`` in one transaction.

        A success is recorded whoever holds the lease now (the dispatch system has the
        ticket; a second delivery with the same key only returns the same receipt); a
        failure only while ``worker_id`` still holds the job.

        Core statements, not the ORM (issue 16): two locking reads, one ``UPDATE`` per
        table and shape of change, one ``INSERT`` each for the timeline and the pushes.
        """
        if not outcomes:
            return
        now = self.core.clock()
        async with self.core.write() as session:
            # Tickets first, then jobs, each in id order: every transaction locks in this
            # order, so concurrent workers cannot deadlock.
            tickets = await lock_states(session, {o.job.ticket_id for o in outcomes})
            conn = await session.connection()
            jobs = {
                row.id: _LockedJob(*row)
                for row in await conn.execute(
                    _LOCK_JOBS, {"ids": sorted(o.job.id for o in outcomes)}
                )
            }
            batch = _Batch()
            for outcome in outcomes:
                job = jobs.get(outcome.job.id)
                if job is None:
                    continue
                ticket = tickets.get(outcome.job.ticket_id)
                if outcome.receipt is not None:
                    self._delivered(batch, job, ticket, outcome.receipt, backend, now)
                else:
                    self._failed(batch, job, ticket, outcome, worker_id, now)
            await update_by_id(session, _JOBS, batch.jobs)
            await write_states(session, tickets.values())
            if batch.events:
                await conn.execute(insert(_EVENTS), batch.events)
            if batch.pushes:
                await conn.execute(insert(_PUSHES), batch.pushes)
        self.core.notify()

    def _delivered(
        self,
        batch: _Batch,
        job: _LockedJob,
        row: TicketState | None,
        receipt: DispatchReceipt,
        backend: str,
        now: datetime,
    ) -> None:
        if job.status == "delivered":
            return  # another worker recorded this delivery first
        actor = f"dispatch:{backend}"
        reference = receipt.external_id or (f"token {receipt.token}" if receipt.token else None)
        was_current = job.status != "cancelled"
        token = receipt.token if receipt.external_id is None else None
        batch.jobs[job.id] = {
            "status": "delivered",
            "external_id": receipt.external_id,
            "token": token,
            "backend": backend,
            "delivered_at": now,
            "claimed_by": None,
            "lease_until": None,
            "last_error": None,
            "updated_at": now,
        }
        if row is None:
            return
        if row.generation != job.generation or not was_current:
            batch.event(
                row, at=now, actor=actor, from_status=row.status, to_status=row.status,
                note=timeline_delivered_too_late(job.generation, reference),
            )
            return
        row.external_id = receipt.external_id
        row.dispatch_token = token
        row.dispatch_backend = backend
        if receipt.grid is not None:
            row.grid = receipt.grid
        row.polled_at = None
        note = timeline_delivered(row.department, reference, receipt.note)
        if row.status in UNDISPATCHED:
            batch.change(
                self.core, row, "dispatched", actor=actor, note=note, now=now,
                escalated=row.generation > 1,
            )
        else:
            # Already moved on (a department return keeps it dispatched; staff may have
            # started work): record the delivery without a status change.
            row.updated_at = now
            batch.event(
                row, at=now, actor=actor, from_status=row.status, to_status=row.status,
                note=note,
            )
        later = receipt.status
        if later and later != row.status and transition_refusal(row.status, later) is None:
            batch.change(self.core, row, later, actor=actor, note=None, now=now)
        log.info("ticket %s delivered to %s (generation %d)", row.id, backend, job.generation)

    def _failed(
        self,
        batch: _Batch,
        job: _LockedJob,
        row: TicketState | None,
        outcome: Outcome,
        worker_id: str,
        now: datetime,
    ) -> None:
        if job.status != "pending" or job.claimed_by != worker_id:
            return  # the lease ran out and the job is someone else's now
        config = self.core.config
        error = _error_text(outcome.error or "unknown error")
        changes: dict[str, Any] = {
            "claimed_by": None, "lease_until": None, "last_error": error, "updated_at": now,
        }
        batch.jobs[job.id] = changes
        if outcome.permanent or job.attempts >= config.outbox_max_attempts:
            changes["status"] = "parked"
            if row is not None:
                note = timeline_parked(outcome.permanent, job.attempts, error)
                batch.event(
                    row, at=now, actor="system", from_status=row.status,
                    to_status=row.status, note=note,
                )
                row.updated_at = now
            log.warning("job %d of ticket %s parked after %d attempts: %s", job.id,
                        job.ticket_id, job.attempts, error)
            return
        delay = config.backoff(job.attempts)
        changes["next_attempt_at"] = now + timedelta(seconds=delay)
        log.info("job %d of ticket %s failed (attempt %d), retry in %.1fs: %s", job.id,
                 job.ticket_id, job.attempts, delay, error)

    async def requeue(self, job_id: int, *, actor: str = "staff") -> OutboxJob:
        """Put a parked job back in the queue with fresh attempts (same idempotency key)."""
        now = self.core.clock()
        async with self.core.write() as session:
            ticket_id = (
                await session.execute(
                    select(DispatchJobRow.ticket_id).where(DispatchJobRow.id == job_id)
                )
            ).scalar_one_or_none()
            if ticket_id is None:
                raise JobNotFound(f"no outbox job {job_id}")
            row = await lock_ticket(session, ticket_id)
            job_row = await session.get(DispatchJobRow, job_id, with_for_update=True)
            assert job_row is not None
            if job_row.status != "parked":
                raise JobNotRetryable(f"outbox job {job_id} is {job_row.status}, not parked")
            job_row.status, job_row.attempts, job_row.next_attempt_at = "pending", 0, now
            job_row.claimed_by = job_row.lease_until = None
            job_row.updated_at = now
            if row is not None:
                add_event(
                    session, row, at=now, actor=actor, from_status=row.status,
                    to_status=row.status, note=TIMELINE_REQUEUED,
                )
                row.updated_at = now
            snapshot = to_job(job_row)
        self.core.notify()
        return snapshot

    async def jobs(
        self, status: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[OutboxJob]:
        rows = await newest_jobs(self.core, DispatchJobRow, status, limit=limit, offset=offset)
        return [to_job(row) for row in rows]

    # -- polling and tokens ---------------------------------------------------------------

    async def tickets_to_poll(self, backend: str, limit: int) -> list[tuple[str, str]]:
        """``(ticket id, external id)`` of open tickets at ``backend``, least recently
        polled first."""
        statement = (
            select(TicketRow.id, TicketRow.external_id)
            .where(
                TicketRow.dispatch_backend == backend,
                TicketRow.external_id.is_not(None),
                TicketRow.status.in_(AT_DEPARTMENT),
            )
            .order_by(nulls_first(TicketRow.polled_at.asc()), TicketRow.id)
            .limit(limit)
        )
        async with self.core.read() as session:
            return [(i, e) for i, e in (await session.execute(statement)).all() if e]

    async def mark_polled(self, ticket_ids: Sequence[str]) -> None:
        if not ticket_ids:
            return
        now = self.core.clock()
        async with self.core.write() as session:
            await session.execute(
                update(TicketRow)
                .where(TicketRow.id.in_(list(ticket_ids)))
                .values(polled_at=now)
                .execution_options(synchronize_session=False)
            )

    async def pending_tokens(self, backend: str, limit: int) -> list[PendingToken]:
        statement = (
            select(TicketRow.id, TicketRow.generation, TicketRow.dispatch_token,
                   DispatchJobRow.delivered_at)
            .join(
                DispatchJobRow,
                (DispatchJobRow.ticket_id == TicketRow.id)
                & (DispatchJobRow.generation == TicketRow.generation),
            )
            .where(
                TicketRow.dispatch_backend == backend,
                TicketRow.dispatch_token.is_not(None),
                TicketRow.external_id.is_(None),
            )
            .order_by(TicketRow.id)
            .limit(limit)
        )
        async with self.core.read() as session:
            return [
                PendingToken(i, g, t, d)
                for i, g, t, d in (await session.execute(statement)).all()
                if t
            ]

    async def token_outcome(
        self, pending: PendingToken, backend: str, external_id: str | None
    ) -> None:
        """Record the id a token resolved into, or (``None``) give up on the token."""
        now = self.core.clock()
        async with self.core.write() as session:
            row = await lock_ticket(session, pending.ticket_id)
            if (
                row is None
                or row.generation != pending.generation
                or row.dispatch_token != pending.token
            ):
                return
            row.dispatch_token = None
            row.updated_at = now
            note = timeline_external_id(pending.token, external_id)
            if external_id is not None:
                row.external_id = external_id
                await session.execute(
                    update(DispatchJobRow)
                    .where(
                        DispatchJobRow.ticket_id == row.id,
                        DispatchJobRow.generation == row.generation,
                    )
                    .values(external_id=external_id, token=None, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            add_event(
                session, row, at=now, actor=f"dispatch:{backend}", from_status=row.status,
                to_status=row.status, note=note,
            )
