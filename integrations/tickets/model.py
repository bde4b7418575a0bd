"""What the ticket store hands out: frozen snapshots, never live database rows."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from policies.tickets import WORKING_STATUSES, level_label, status_label

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "Delivery",
    "OutboxJob",
    "PushAttempt",
    "PushFate",
    "PushJob",
    "Ticket",
    "TicketWarning",
    "TimelineEntry",
    "from_row",
]

Snapshot = TypeVar("Snapshot", bound="DataclassInstance")


def from_row(kind: type[Snapshot], row: object) -> Snapshot:
    """The snapshot ``kind`` of a database ``row`` whose columns carry its field names."""
    return kind(**{f.name: getattr(row, f.name) for f in fields(kind)})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a ticket's history (``from_status == to_status`` for changes that are
    not status changes: escalations, re-queued deliveries)."""

    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str | None


@dataclass(frozen=True, slots=True)
class OutboxJob:
    """One delivery of a ticket generation to the dispatch system."""

    id: int
    ticket_id: str
    generation: int
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    lease_until: datetime | None
    last_error: str | None
    external_id: str | None
    backend: str | None
    created_at: datetime
    delivered_at: datetime | None


#: The delivery state shown with a ticket is its latest outbox job.
Delivery = OutboxJob


@dataclass(frozen=True, slots=True)
class PushJob:
    """A status message owed to a resident."""

    id: int
    ticket_id: str
    openid: str
    ticket_status: str
    text: str
    status: str
    attempts: int
    via: str | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class PushAttempt:
    """One channel tried (or skipped) for a push: ``channel`` (``custom``, ``template``,
    ``subscription``, ``sms``), ``outcome`` (``sending``, ``delivered``, ``refused``,
    ``failed``, ``unknown``, ``skipped``), WeChat's ``errcode`` and what happened."""

    channel: str
    outcome: str
    errcode: int | None
    detail: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class PushFate:
    """A push and every step of its fallback chain, oldest first."""

    push: PushJob
    attempts: tuple[PushAttempt, ...]


@dataclass(frozen=True, slots=True)
class TicketWarning:
    """A warning (预警) sent to the ticket's department, and its webhook delivery's fate
    (``webhook_status``: ``pending``, ``sent``, ``failed``, ``off`` without a webhook)."""

    id: int
    ticket_id: str
    key: str
    clock: str
    level: str
    department: str
    text: str
    deadline: datetime
    created_at: datetime
    webhook_status: str
    webhook_attempts: int
    webhook_error: str | None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket with its timeline (oldest first) and its latest delivery."""

    id: str
    openid: str | None
    category: str
    description: str
    location: str
    phone: str
    photos: tuple[str, ...]
    latitude: float | None
    longitude: float | None
    urgent: bool
    department: str
    grid: str | None
    level: str
    status: str
    sla_due_at: datetime
    rating: str | None
    rating_reason: str | None
    channel: str
    external_id: str | None
    dispatch_backend: str | None
    generation: int
    created_at: datetime
    updated_at: datetime
    history: tuple[TimelineEntry, ...] = ()
    delivery: Delivery | None = None
    #: the chat that produced the ticket: ``{"at", "role", "text"}`` dicts, oldest first
    chat: tuple[dict[str, str], ...] = ()
    #: the street and community the location lies in (policies/areas.py), if known
    street: str | None = None
    community: str | None = None
    #: the working-day clocks of the current dispatch (``sla_due_at`` is the 办结 deadline;
    #: ``None`` for history imported without clocks)
    clock_started_at: datetime | None = None
    sign_due_at: datetime | None = None
    signed_at: datetime | None = None
    completed_at: datetime | None = None
    #: how many times one of its clocks ran out
    overdue_count: int = 0
    #: warnings sent to the department, oldest first
    warnings: tuple[TicketWarning, ...] = ()
    #: the resident's answer to "was it solved?" after 办结
    solved: bool | None = None
    #: ``pending`` a supervisor's review (solved, not satisfied), then ``done``
    supervision: str | None = None
    #: the 回访: when, and ``due`` / ``asked`` / ``ok`` / ``recurred``
    follow_up_at: datetime | None = None
    follow_up: str | None = None
    #: the first ticket of a repeat complaint (same resident, category, place, 30 days)
    repeat_of: str | None = None

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def level_label(self) -> str:
        return level_label(self.level)

    def overdue(self, now: datetime) -> bool:
        """Past its SLA deadline while work is still owed."""
        return self.status in WORKING_STATUSES and self.sla_due_at < now
