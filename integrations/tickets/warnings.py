"""Warnings (预警) before the 签收 and 办结 deadlines: recorded once, shown, posted.

The outbox worker calls :meth:`ClockWarnings.check_due` on its escalation pass (before
escalation, so an overdue 办结 clock is told before escalation starts new clocks). It
looks only at tickets whose ``next_warning_at`` has come; under the ticket's row lock it
records the warnings :func:`policies.deadlines.due_warnings` says are due — one row per
``(ticket_id, key)``, unique, so each fires once whatever the number of workers — with a
``system`` timeline entry, adds one to ``overdue_count`` for each clock that ran out, and
sets when the next one falls due.

The console shows them with the ticket and on the warnings page (per department); with
``INTAKE_WARNING_WEBHOOK_URL`` set, :meth:`ClockWarnings.deliver` posts each to it, signed
as analytics alerts are (:mod:`integrations.webhooks`), retried with backoff (1 minute
doubling to 1 hour) up to ``push_max_attempts`` times, then ``failed`` (still shown).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.db.models import TicketRow, TicketWarningRow
from integrations.tickets.core import Core, CoreService, add_event, lock_ticket
from integrations.tickets.model import TicketWarning, from_row
from integrations.webhooks import post_json
from policies.deadlines import CLOCK_LABELS, LEVEL_LABELS, ClockWarning, warning_text
from policies.tickets import CLOCK_STATUSES, timeline_warning

__all__ = ["ClockWarnings", "WarningCounts", "warning_payload"]

log = logging.getLogger(__name__)

_BACKOFF = timedelta(minutes=1)
_BACKOFF_MAX = timedelta(hours=1)


def warning_payload(warning: TicketWarningRow, core: Core) -> dict[str, Any]:
    """What the webhook receives: the ticket, the department, which clock, how pressing,
    the deadline (ISO 8601 in the service's zone), the line staff read, and the key
    (unique per ticket: a receiver drops a repeat)."""
    return {
        "kind": "ticket_warning",
        "key": f"{warning.ticket_id}:{warning.key}",
        "ticket_id": warning.ticket_id,
        "department": warning.department,
        "clock": warning.clock,
        "clock_label": CLOCK_LABELS.get(warning.clock, warning.clock),
        "level": warning.level,
        "level_label": LEVEL_LABELS.get(warning.level, warning.level),
        "deadline": warning.deadline.astimezone(core.tz).isoformat(),
        "text": warning.text,
    }


@dataclass(frozen=True, slots=True)
class WarningCounts:
    """Warnings of one department in a period, by level."""

    department: str
    yellow: int
    red: int
    overdue: int


class ClockWarnings(CoreService):
    """Records, lists and posts the warnings of the working-day clocks."""

    def __init__(self, core: Core, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(core)
        #: an httpx transport (tests)
        self.transport = transport

    # -- finding -----------------------------------------------------------------------------

    async def check_due(self, *, limit: int = 200) -> int:
        """Record the warnings due now; returns how many were recorded."""
        now = self.core.now()
        due = (
            TicketRow.status.in_(CLOCK_STATUSES),
            TicketRow.next_warning_at.is_not(None),
            TicketRow.next_warning_at <= now,
        )
        async with self.core.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(TicketRow.id)
                        .where(*due)
                        .order_by(TicketRow.next_warning_at)
                        .limit(limit)
                    )
                ).scalars()
            )
        recorded = 0
        for ticket_id in ids:
            async with self.core.write() as session:
                row = await lock_ticket(session, ticket_id)
                if row is None or row.status not in CLOCK_STATUSES:
                    continue  # staff moved it meanwhile
                if row.next_warning_at is None or row.next_warning_at > now:
                    continue  # another worker got there first
                sent = set(
                    (
                        await session.execute(
                            select(TicketWarningRow.key).where(
                                TicketWarningRow.ticket_id == row.id
                            )
                        )
                    ).scalars()
                )
                for warning in self.core.clocks.due(row, now, sent):
                    self._record(session, row, warning, now)
                    sent.add(warning.key)
                    recorded += 1
                row.next_warning_at = self.core.clocks.next_warning(row, now, sent)
        if recorded:
            log.info("%d clock warnings recorded", recorded)
        return recorded

    def _record(
        self, session: AsyncSession, row: TicketRow, warning: ClockWarning, now: datetime
    ) -> None:
        text = warning_text(warning, row.id)
        webhook = self.core.config.warning_webhook_url
        session.add(
            TicketWarningRow(
                ticket_id=row.id,
                key=warning.key,
                clock=warning.clock,
                level=warning.level,
                department=row.department,
                text=text,
                deadline=warning.deadline,
                created_at=now,
                webhook_status="pending" if webhook else "off",
                webhook_attempts=0,
                webhook_next_at=now if webhook else None,
                webhook_error=None,
            )
        )
        if warning.level == "overdue":
            row.overdue_count = (row.overdue_count or 0) + 1
        add_event(
            session, row, at=now, actor="system", from_status=row.status,
            to_status=row.status, note=timeline_warning(row.department, text),
        )

    # -- delivering --------------------------------------------------------------------------

    async def deliver(self, *, limit: int = 20) -> int:
        """Post due pending warnings to the webhook; returns how many were taken."""
        url = self.core.config.warning_webhook_url
        if not url:
            return 0
        now = self.core.now()
        async with self.core.read() as session:
            rows = list(
                (
                    await session.execute(
                        select(TicketWarningRow)
                        .where(
                            TicketWarningRow.webhook_status == "pending",
                            TicketWarningRow.webhook_next_at <= now,
                        )
                        .order_by(TicketWarningRow.id)
                        .limit(limit)
                    )
                ).scalars()
            )
        if not rows:
            return 0
        sent = 0
        async with httpx.AsyncClient(timeout=10.0, transport=self.transport) as client:
            for row in rows:
                error = await post_json(
                    client,
                    url,
                    warning_payload(row, self.core),
                    secret=self.core.config.warning_webhook_secret,
                )
                await self._outcome(row, error, now)
                sent += error is None
        return sent

    async def _outcome(self, row: TicketWarningRow, error: str | None, now: datetime) -> None:
        attempts = row.webhook_attempts + 1
        values: dict[str, Any] = {"webhook_attempts": attempts, "webhook_error": error}
        if error is None:
            values.update(webhook_status="sent", webhook_next_at=None)
        elif attempts >= self.core.config.push_max_attempts:
            values.update(webhook_status="failed", webhook_next_at=None)
            log.warning("warning %s of ticket %s not posted: %s", row.key, row.ticket_id, error)
        else:
            values["webhook_next_at"] = now + min(_BACKOFF_MAX, _BACKOFF * 2 ** (attempts - 1))
        async with self.core.write() as session:
            await session.execute(
                update(TicketWarningRow)
                .where(TicketWarningRow.id == row.id, TicketWarningRow.webhook_status == "pending")
                .values(**values)
            )

    # -- for the console ---------------------------------------------------------------------

    async def recent(
        self, *, department: str | None = None, limit: int = 100
    ) -> list[TicketWarning]:
        """The latest warnings, newest first (of ``department`` only, if given)."""
        statement = select(TicketWarningRow).order_by(TicketWarningRow.id.desc()).limit(limit)
        if department:
            statement = statement.where(TicketWarningRow.department == department)
        async with self.core.read() as session:
            rows = (await session.execute(statement)).scalars()
            return [from_row(TicketWarning, r) for r in rows]

    async def counts(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[WarningCounts]:
        """Warnings per department and level in [since, until), most overdue first."""
        statement = select(
            TicketWarningRow.department, TicketWarningRow.level, TicketWarningRow.id
        )
        if since is not None:
            statement = statement.where(TicketWarningRow.created_at >= since)
        if until is not None:
            statement = statement.where(TicketWarningRow.created_at < until)
        tally: dict[str, dict[str, int]] = {}
        async with self.core.read() as session:
            for department, level, _ in (await session.execute(statement)).all():
                by_level = tally.setdefault(department, {"yellow": 0, "red": 0, "overdue": 0})
                by_level[level] = by_level.get(level, 0) + 1
        rows = [WarningCounts(d, t["yellow"], t["red"], t["overdue"]) for d, t in tally.items()]
        return sorted(rows, key=lambda r: (-r.overdue, -r.red, -r.yellow, r.department))
