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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import nulls_first, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import DispatchJobRow, TicketRow
from integrations.dispatch.base import DispatchReceipt, DispatchRequest
from integrations.tickets.core import (
    CoreService,
    add_event,
    lock_ticket,
    newest_jobs,
    record_change,
    to_job,
)
from integrations.tickets.errors import JobNotFound, JobNotRetryable
from integrations.tickets.model import OutboxJob
from integrations.tickets.sql import claim_due
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


def _request(row: TicketRow, key: str) -> DispatchRequest:
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
            ids = await claim_due(
                session,
                DispatchJobRow,
                worker_id=worker_id,
                now=now,
                lease_seconds=self.core.config.lease_seconds,
                limit=limit,
            )
            if not ids:
                return []
            pairs = (
                await session.execute(
                    select(DispatchJobRow, TicketRow)
                    .join(TicketRow, TicketRow.id == DispatchJobRow.ticket_id)
                    .where(DispatchJobRow.id.in_(ids))
                    .order_by(DispatchJobRow.id)
                )
            ).all()
            claimed: list[ClaimedJob] = []
            for job, ticket in pairs:
                needed = job.generation == ticket.generation and (
                    ticket.status not in TERMINAL_STATUSES
                )
                if not needed:
                    job.status, job.claimed_by, job.lease_until = "cancelled", None, None
                    job.last_error = "the ticket no longer needs this delivery"
                    job.updated_at = now
                claimed.append(
                    ClaimedJob(
                        job.id,
                        job.ticket_id,
                        job.generation,
                        job.idempotency_key,
                        job.attempts,
                        _request(ticket, job.idempotency_key) if needed else None,
                    )
                )
            return claimed

    async def record(self, worker_id: str, backend: str, outcomes: Sequence[Outcome]) -> None:
        """Record the outcomes of a batch delivered to ``backend`` in one transaction.

        A success is recorded whoever holds the lease now (the dispatch system has the
        ticket; a second delivery with the same key only returns the same receipt); a
        failure only while ``worker_id`` still holds the job.
        """
        if not outcomes:
            return
        now = self.core.clock()
        ticket_ids = sorted({o.job.ticket_id for o in outcomes})
        job_ids = sorted(o.job.id for o in outcomes)
        async with self.core.write() as session:
            # Tickets first, then jobs, each in id order: every transaction locks in this
            # order, so concurrent workers cannot deadlock.
            tickets = {
                row.id: row
                for row in (
                    await session.execute(
                        select(TicketRow)
                        .where(TicketRow.id.in_(ticket_ids))
                        .order_by(TicketRow.id)
                        .with_for_update()
                    )
                ).scalars()
            }
            jobs = {
                row.id: row
                for row in (
                    await session.execute(
                        select(DispatchJobRow)
                        .where(DispatchJobRow.id.in_(job_ids))
                        .order_by(DispatchJobRow.id)
                        .with_for_update()
                    )
                ).scalars()
            }
            for outcome in outcomes:
                job_row = jobs.get(outcome.job.id)
                if job_row is None:
                    continue
                ticket = tickets.get(outcome.job.ticket_id)
                if outcome.receipt is not None:
                    self._delivered(session, job_row, ticket, outcome.receipt, backend, now)
                else:
                    self._failed(session, job_row, ticket, outcome, worker_id, now)
        self.core.notify()

    def _delivered(
        self,
        session: AsyncSession,
        job_row: DispatchJobRow,
        row: TicketRow | None,
        receipt: DispatchReceipt,
        backend: str,
        now: datetime,
    ) -> None:
        if job_row.status == "delivered":
            return  # another worker recorded this delivery first
        actor = f"dispatch:{backend}"
        reference = receipt.external_id or (f"token {receipt.token}" if receipt.token else None)
        was_current = job_row.status != "cancelled"
        job_row.status = "delivered"
        job_row.external_id = receipt.external_id
        job_row.token = receipt.token if receipt.external_id is None else None
        job_row.backend = backend
        job_row.delivered_at = now
        job_row.claimed_by = job_row.lease_until = None
        job_row.last_error = None
        job_row.updated_at = now
        if row is None:
            return
        if row.generation != job_row.generation or not was_current:
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status,
                note=timeline_delivered_too_late(job_row.generation, reference),
            )
            return
        row.external_id = receipt.external_id
        row.dispatch_token = job_row.token
        row.dispatch_backend = backend
        if receipt.grid is not None:
            row.grid = receipt.grid
        row.polled_at = None
        note = timeline_delivered(row.department, reference, receipt.note)
        if row.status in UNDISPATCHED:
            record_change(
                session, self.core, row, "dispatched", actor=actor, note=note, now=now,
                escalated=row.generation > 1,
            )
        else:
            # Already moved on (a department return keeps it dispatched; staff may have
            # started work): record the delivery without a status change.
            row.updated_at = now
            add_event(
                session, row, at=now, actor=actor, from_status=row.status,
                to_status=row.status, note=note,
            )
        later = receipt.status
        if later and later != row.status and transition_refusal(row.status, later) is None:
            record_change(session, self.core, row, later, actor=actor, note=None, now=now)
        log.info("ticket %s delivered to %s (generation %d)", row.id, backend,
                 job_row.generation)

    def _failed(
        self,
        session: AsyncSession,
        job_row: DispatchJobRow,
        row: TicketRow | None,
        outcome: Outcome,
        worker_id: str,
        now: datetime,
    ) -> None:
        if job_row.status != "pending" or job_row.claimed_by != worker_id:
            return  # the lease ran out and the job is someone else's now
        config = self.core.config
        job_row.claimed_by = job_row.lease_until = None
        job_row.last_error = _error_text(outcome.error or "unknown error")
        job_row.updated_at = now
        if outcome.permanent or job_row.attempts >= config.outbox_max_attempts:
            job_row.status = "parked"
            if row is not None:
                note = timeline_parked(outcome.permanent, job_row.attempts, job_row.last_error)
                add_event(
                    session, row, at=now, actor="system", from_status=row.status,
                    to_status=row.status, note=note,
                )
                row.updated_at = now
            log.warning("job %d of ticket %s parked after %d attempts: %s", job_row.id,
                        job_row.ticket_id, job_row.attempts, job_row.last_error)
            return
        delay = config.backoff(job_row.attempts)
        job_row.next_attempt_at = now + timedelta(seconds=delay)
        log.info("job %d of ticket %s failed (attempt %d), retry in %.1fs: %s", job_row.id,
                 job_row.ticket_id, job_row.attempts, delay, job_row.last_error)

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
