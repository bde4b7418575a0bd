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

from integrations.db.models import DispatchJobRow, TicketRow
from integrations.dispatch.base import DispatchReceipt, DispatchRequest
from integrations.tickets.core import Core, add_event, lock_ticket, record_change, to_job
from integrations.tickets.errors import JobNotFound, JobNotRetryable
from integrations.tickets.model import OutboxJob
from integrations.tickets.sql import claim_due
from nlu.pii import mask_pii
from policies.tickets import TERMINAL_STATUSES, transition_problem

__all__ = ["ClaimedJob", "Outbox", "PendingToken"]

log = logging.getLogger("integrations.tickets.outbox")

_MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease of."""

    id: int
    ticket_id: str
    generation: int
    idempotency_key: str
    attempts: int


@dataclass(frozen=True, slots=True)
class PendingToken:
    """A delivery whose dispatch system answered with a token instead of an id."""

    ticket_id: str
    generation: int
    token: str
    delivered_at: datetime | None


def _error_text(error: str) -> str:
    # Dispatch errors may quote the request (addresses, phones): mask before storing.
    return mask_pii(error)[:_MAX_ERROR]


class Outbox:
    """Dispatch jobs in the database (one per ticket generation)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def claim(self, worker_id: str, limit: int) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs to ``worker_id``."""
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
            rows = (
                await session.execute(
                    select(DispatchJobRow).where(DispatchJobRow.id.in_(ids))
                )
            ).scalars()
            return [
                ClaimedJob(r.id, r.ticket_id, r.generation, r.idempotency_key, r.attempts)
                for r in sorted(rows, key=lambda r: r.id)
            ]

    async def request_for(self, job: ClaimedJob, worker_id: str) -> DispatchRequest | None:
        """What to send for ``job``; ``None`` (and the job cancelled) when the ticket no
        longer needs this delivery (finished, or a later generation replaced it)."""
        async with self.core.read() as session:
            row = await session.get(TicketRow, job.ticket_id)
        if row is not None and row.generation == job.generation and (
            row.status not in TERMINAL_STATUSES
        ):
            return DispatchRequest(
                ticket_id=row.id,
                idempotency_key=job.idempotency_key,
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
        now = self.core.clock()
        async with self.core.write() as session:
            await session.execute(
                update(DispatchJobRow)
                .where(
                    DispatchJobRow.id == job.id,
                    DispatchJobRow.status == "pending",
                    DispatchJobRow.claimed_by == worker_id,
                )
                .values(
                    status="cancelled",
                    claimed_by=None,
                    lease_until=None,
                    last_error="the ticket no longer needs this delivery",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        return None

    async def complete(self, job: ClaimedJob, receipt: DispatchReceipt, backend: str) -> bool:
        """Record a successful delivery; ``False`` if another worker recorded it first.

        A success is recorded whoever holds the lease now: the dispatch system has the
        ticket, and a second delivery with the same key only returns the same receipt.
        """
        now = self.core.clock()
        actor = f"dispatch:{backend}"
        reference = receipt.external_id or (f"token {receipt.token}" if receipt.token else None)
        async with self.core.write() as session:
            # Ticket first, then job: every transaction locks in this order (no deadlocks).
            row = await lock_ticket(session, job.ticket_id)
            job_row = await session.get(DispatchJobRow, job.id, with_for_update=True)
            if job_row is None or job_row.status == "delivered":
                return False
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
                return True
            if row.generation != job.generation or not was_current:
                add_event(
                    session, row, at=now, actor=actor, from_status=row.status,
                    to_status=row.status,
                    note=f"第{job.generation}次派单已送达（{reference or '无编号'}），但已不再需要",
                )
                return True
            row.external_id = receipt.external_id
            row.dispatch_token = job_row.token
            row.dispatch_backend = backend
            row.polled_at = None
            note = receipt.note or f"已派单至{row.department}"
            if reference:
                note += f"（编号{reference}）"
            if row.status in ("received", "reopened"):
                record_change(
                    session, self.core, row, "dispatched", actor=actor, note=note, now=now,
                    escalated=row.generation > 1,
                )
            else:
                # Already moved on (a department return keeps it dispatched; staff may
                # have started work): record the delivery without a status change.
                row.updated_at = now
                add_event(
                    session, row, at=now, actor=actor, from_status=row.status,
                    to_status=row.status, note=note,
                )
            later = receipt.status
            if later and later != row.status and transition_problem(row.status, later) is None:
                record_change(session, self.core, row, later, actor=actor, note=None, now=now)
        self.core.notify()
        log.info("ticket %s delivered to %s (generation %d)", job.ticket_id, backend,
                 job.generation)
        return True

    async def fail(
        self, job: ClaimedJob, worker_id: str, error: str, *, permanent: bool
    ) -> str | None:
        """Record a failed attempt: retry later, or park. Returns the job's new status
        (``None`` when this worker no longer holds the job)."""
        now = self.core.clock()
        config = self.core.config
        async with self.core.write() as session:
            row = await lock_ticket(session, job.ticket_id)
            job_row = await session.get(DispatchJobRow, job.id, with_for_update=True)
            if job_row is None or job_row.status != "pending" or job_row.claimed_by != worker_id:
                return None
            job_row.claimed_by = job_row.lease_until = None
            job_row.last_error = _error_text(error)
            job_row.updated_at = now
            if permanent or job_row.attempts >= config.outbox_max_attempts:
                job_row.status = "parked"
                if row is not None:
                    why = "下游拒收" if permanent else f"连续{job_row.attempts}次派单失败"
                    add_event(
                        session, row, at=now, actor="system", from_status=row.status,
                        to_status=row.status, note=f"{why}，已转人工处理：{job_row.last_error}",
                    )
                    row.updated_at = now
                log.warning("job %d of ticket %s parked after %d attempts: %s", job.id,
                            job.ticket_id, job_row.attempts, job_row.last_error)
                return "parked"
            delay = config.backoff(job_row.attempts)
            job_row.next_attempt_at = now + timedelta(seconds=delay)
        log.info("job %d of ticket %s failed (attempt %d), retry in %.1fs: %s", job.id,
                 job.ticket_id, job.attempts, delay, _error_text(error))
        return "pending"

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
                    to_status=row.status, note="重新派单（人工重试）",
                )
                row.updated_at = now
            snapshot = to_job(job_row)
        self.core.notify()
        return snapshot

    async def jobs(
        self, status: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[OutboxJob]:
        statement = select(DispatchJobRow)
        if status is not None:
            statement = statement.where(DispatchJobRow.status == status)
        statement = statement.order_by(DispatchJobRow.id.desc()).limit(limit).offset(offset)
        async with self.core.read() as session:
            return [to_job(row) for row in (await session.execute(statement)).scalars()]

    # -- polling and tokens ---------------------------------------------------------------

    async def tickets_to_poll(self, backend: str, limit: int) -> list[tuple[str, str]]:
        """``(ticket id, external id)`` of open tickets at ``backend``, least recently
        polled first."""
        statement = (
            select(TicketRow.id, TicketRow.external_id)
            .where(
                TicketRow.dispatch_backend == backend,
                TicketRow.external_id.is_not(None),
                TicketRow.status.in_(("dispatched", "in_progress")),
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
            if external_id is None:
                note = f"下游长期未分配编号（token {pending.token}），需人工核实"
            else:
                row.external_id = external_id
                note = f"下游编号：{external_id}"
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
