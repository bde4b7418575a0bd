"""Status pushes to residents, for staff: the list, each ticket's pushes with every step
of their fallback chain (their fate), and queueing a failed one again.

The pushes themselves are queued with each change (:func:`integrations.tickets.core.queue_push`)
and sent by :class:`integrations.notify.sender.PushSender`.
"""

from __future__ import annotations

from sqlalchemy import select

from integrations.db.models import PushAttemptRow, PushJobRow
from integrations.tickets.core import CoreService, newest_jobs
from integrations.tickets.errors import JobNotFound, JobNotRetryable
from integrations.tickets.model import PushAttempt, PushFate, PushJob, from_row

__all__ = ["PushJobs"]


class PushJobs(CoreService):
    """The push jobs of every ticket."""

    async def jobs(
        self, status: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[PushJob]:
        rows = await newest_jobs(self.core, PushJobRow, status, limit=limit, offset=offset)
        return [from_row(PushJob, row) for row in rows]

    async def of_ticket(self, ticket_id: str, *, limit: int = 50) -> list[PushFate]:
        """The ticket's pushes (newest ``limit``, oldest first) with their steps."""
        async with self.core.read() as session:
            jobs = list(
                (
                    await session.execute(
                        select(PushJobRow)
                        .where(PushJobRow.ticket_id == ticket_id)
                        .order_by(PushJobRow.id.desc())
                        .limit(limit)
                    )
                ).scalars()
            )[::-1]
            steps: dict[int, list[PushAttempt]] = {job.id: [] for job in jobs}
            if jobs:
                rows = (
                    await session.execute(
                        select(PushAttemptRow)
                        .where(PushAttemptRow.push_id.in_(list(steps)))
                        .order_by(PushAttemptRow.id)
                    )
                ).scalars()
                for row in rows:
                    steps[row.push_id].append(from_row(PushAttempt, row))
            return [
                PushFate(from_row(PushJob, job), tuple(steps[job.id])) for job in jobs
            ]

    async def retry(self, job_id: int) -> PushJob:
        """Queue a failed push again, with fresh attempts."""
        now = self.core.now()
        async with self.core.write() as session:
            row = await session.get(PushJobRow, job_id, with_for_update=True)
            if row is None:
                raise JobNotFound(f"no push job {job_id}")
            if row.status != "failed":
                raise JobNotRetryable(f"push job {job_id} is {row.status}, not failed")
            row.status, row.attempts, row.next_attempt_at = "pending", 0, now
            row.claimed_by, row.lease_until, row.updated_at = None, None, now
            job = from_row(PushJob, row)
        self.core.notify()
        return job

