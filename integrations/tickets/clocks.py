"""The working-day clocks of tickets: 签收 and 办结 deadlines, their warnings (预警).

:class:`TicketClocks` holds what the pure rules of :mod:`policies.deadlines` and
:mod:`policies.workdays` need — the 签收/办结 limits of the SLA file, China's official
calendar (with the overrides file laid over it) and every department's office hours — and
applies them to ticket rows: a (re-)dispatch starts new clocks (:meth:`TicketClocks.start`),
moving to 处理中 signs for the ticket and 已办结 completes it (:func:`stop_clocks`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from integrations.db.models import TicketRow
from integrations.tickets.config import TicketConfig
from policies.deadlines import (
    ClockRules,
    ClockStatus,
    ClockWarning,
    TicketDeadlines,
    TicketTimes,
    clock_statuses,
    due_warnings,
    load_clock_rules,
    next_warning_at,
    ticket_deadlines,
)
from policies.workdays import (
    DepartmentHours,
    WorkCalendar,
    WorkingClock,
    load_calendar_overrides,
    load_department_hours,
    official_calendar,
)

if TYPE_CHECKING:  # core imports this module
    from integrations.tickets.core import TicketState

__all__ = ["TicketClocks", "stop_clocks"]


class TicketClocks:
    """Working-day clocks for every department, in the service's zone ``tz``."""

    def __init__(
        self,
        rules: ClockRules,
        calendar: WorkCalendar,
        hours: DepartmentHours,
        tz: tzinfo,
    ) -> None:
        self.rules = rules
        self.calendar = calendar
        self.hours = hours
        self.tz = tz

    @classmethod
    def from_config(cls, config: TicketConfig) -> TicketClocks:
        """From the SLA, calendar-overrides and office-hours files of ``config`` (packaged
        defaults where unset); raises ``ValueError`` naming a bad file's entry."""
        overrides = (
            load_calendar_overrides(config.workday_calendar_file)
            if config.workday_calendar_file is not None
            else None
        )
        return cls(
            load_clock_rules(config.sla_file),
            official_calendar(overrides),
            load_department_hours(config.office_hours_file),
            config.tzinfo(),
        )

    def clock(self, department: str | None) -> WorkingClock:
        """The working-time arithmetic of ``department``'s office hours."""
        return WorkingClock(self.calendar, self.hours.for_department(department), self.tz)

    def deadlines(
        self, *, category: str, urgent: bool, department: str, start: datetime
    ) -> TicketDeadlines:
        return ticket_deadlines(
            self.rules, self.clock(department), category=category, urgent=urgent,
            started_at=start,
        )

    def start(self, row: TicketRow, now: datetime, *, keep_signed: bool = False) -> None:
        """New clocks for ``row`` dispatched (again) at ``now`` to its department: both
        deadlines (``sla_due_at`` is the 办结 one) and when the first warning falls due.
        ``keep_signed``: an escalation — a ticket already signed for stays signed."""
        deadlines = self.deadlines(
            category=row.category, urgent=row.urgent, department=row.department, start=now
        )
        row.clock_started_at = now
        row.sign_due_at = deadlines.sign_for
        row.sla_due_at = deadlines.completion
        if not (keep_signed and row.signed_at is not None):
            row.signed_at = None
        row.completed_at = None
        row.next_warning_at = self.next_warning(row, now, ())

    def times(self, row: TicketRow) -> TicketTimes | None:
        if row.clock_started_at is None:
            return None  # history imported without clocks
        return TicketTimes(row.clock_started_at, row.signed_at, row.completed_at)

    def statuses(
        self,
        *,
        category: str,
        urgent: bool,
        department: str,
        times: TicketTimes,
        now: datetime,
    ) -> tuple[ClockStatus, ClockStatus]:
        """The 签收 and 办结 clocks at ``now`` (for the console and the API)."""
        return clock_statuses(
            self.rules, self.clock(department), category=category, urgent=urgent,
            times=times, now=now,
        )

    def due(self, row: TicketRow, now: datetime, sent: Collection[str]) -> list[ClockWarning]:
        """The warnings ``row`` owes its department now (none already ``sent``)."""
        times = self.times(row)
        if times is None:
            return []
        return due_warnings(
            self.rules, self.clock(row.department), category=row.category, urgent=row.urgent,
            times=times, now=now, sent=sent,
        )

    def next_warning(
        self, row: TicketRow, now: datetime, sent: Collection[str]
    ) -> datetime | None:
        times = self.times(row)
        if times is None:
            return None
        return next_warning_at(
            self.rules, self.clock(row.department), category=row.category, urgent=row.urgent,
            times=times, now=now, sent=sent,
        )

    def covers_next_year(self, now: datetime) -> bool:
        """Whether next year's official calendar is loaded (from December the console
        says so while it is not: deadlines reaching into it are provisional)."""
        return self.calendar.covers(now.astimezone(self.tz).year + 1)


def stop_clocks(row: TicketRow | TicketState, target: str, now: datetime) -> None:
    """What a move to ``target`` does to the clocks: 处理中 signs for the ticket (签收),
    已办结 completes it (办结, which stops the 签收 clock too); a ticket no department holds
    any more (returned, closed, rejected) warns no more."""
    if target == "in_progress" and row.signed_at is None:
        row.signed_at = now
    if target == "resolved":
        row.completed_at = now
    if target in ("resolved", "returned", "closed", "rejected"):
        row.next_warning_at = None
