"""The relational model of tickets (工单), their timeline, the outbox and resident pushes.

The schema is created and changed only by the Alembic migrations in
``integrations/db/migrations`` (applied at start-up by :func:`integrations.db.migrate.
upgrade_database`); a test keeps these classes and the migrations identical. Every time is
stored in UTC (:class:`UTCDateTime`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AnalyticsAlertRow",
    "AnalyticsLeaseRow",
    "AuditRow",
    "Base",
    "ClusterCorrectionRow",
    "ClusterRow",
    "DeskAssignmentRow",
    "DispatchEventRow",
    "DispatchJobRow",
    "FAQTopicRow",
    "HandoffMessageRow",
    "HandoffRow",
    "ModelReleaseRow",
    "PushAttemptRow",
    "PushJobRow",
    "ResidentRow",
    "ReviewItemRow",
    "RoutingDisputeRow",
    "SubscriptionConsentRow",
    "TicketClusterRow",
    "TicketCounterRow",
    "TicketFollowerRow",
    "TicketRow",
    "TicketWarningRow",
    "TimelineRow",
    "TrainingExampleRow",
    "TrainingSeedReleaseRow",
    "TrainingSeedRemovalRow",
    "UTCDateTime",
    "UserRow",
    "utcnow",
]

def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (every time in the database is)."""
    return datetime.now(UTC)


# Named constraints, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: An integer primary key that is a 64-bit ``bigserial``-like identity on PostgreSQL and the
#: rowid alias SQLite needs for autoincrement (SQLite only does that for ``INTEGER``).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC (``timestamptz`` on PostgreSQL, text on SQLite).

    SQLite keeps no offset, so values are normalised to UTC before they are stored and get
    it back when read; comparisons in SQL then work alike on both backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the naming convention and UTC datetimes."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class TicketRow(Base):
    """One ticket. Phone and location are kept as given (they are needed to act on it); ID
    card numbers are masked before anything is stored."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    openid: Mapped[str | None] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(String(64))
    photos: Mapped[list[str]] = mapped_column(JSON)
    #: the chat that produced the ticket (``[{"at", "role", "text"}]``), ID numbers masked
    chat: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)
    #: the message that filed it (``wechat:<openid>:<MsgId>``): one ticket per message
    source_key: Mapped[str | None] = mapped_column(String(160), unique=True, default=None)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    urgent: Mapped[bool] = mapped_column(Boolean)
    department: Mapped[str] = mapped_column(String(64))
    grid: Mapped[str | None] = mapped_column(String(64))
    #: the street (街道/镇) and community (社区/村) the location lies in, set at filing
    #: (integrations/analytics/areas.py); None when neither the words nor the grid say
    street: Mapped[str | None] = mapped_column(String(64), default=None)
    community: Mapped[str | None] = mapped_column(String(64), default=None)
    level: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    sla_due_at: Mapped[datetime]
    rating: Mapped[str | None] = mapped_column(String(32))
    rating_reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    #: the downstream system's id of the current dispatch (and its name)
    external_id: Mapped[str | None] = mapped_column(String(128), index=True)
    dispatch_backend: Mapped[str | None] = mapped_column(String(32))
    #: a token from ``submit`` still to be resolved into ``external_id``
    dispatch_token: Mapped[str | None] = mapped_column(String(128))
    #: dispatch generation: 1, then +1 on every re-dispatch (reopened, returned)
    generation: Mapped[int] = mapped_column(Integer)
    polled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    #: the working-day clocks (policies/deadlines.py) of the current dispatch: when they
    #: started, the 签收 deadline (``sla_due_at`` is the 办结 one), when the department
    #: signed for (签收) and completed (办结) it, and when the next warning falls due
    clock_started_at: Mapped[datetime | None] = mapped_column(default=None)
    sign_due_at: Mapped[datetime | None] = mapped_column(default=None)
    signed_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    next_warning_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    #: how many times one of its clocks ran out (签收 or 办结)
    overdue_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the resident's answer to "was it solved?" after 办结 (``None``: not answered yet)
    solved: Mapped[bool | None] = mapped_column(Boolean, default=None)
    #: solved but not satisfied: ``pending`` a supervisor's review, then ``done``
    supervision: Mapped[str | None] = mapped_column(String(16), default=None)
    #: the 回访 of a problem class that tends to come back: when, and ``due`` / ``asked`` /
    #: ``ok`` / ``recurred``
    follow_up_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    follow_up: Mapped[str | None] = mapped_column(String(16), default=None)
    #: a repeat complaint (same resident, category and place within 30 days): the first one
    repeat_of: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    #: the place key of the location (policies/place_key.py), to recognise repeats
    place: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (
        Index("ix_tickets_status_sla_due_at", "status", "sla_due_at"),
        # The repeat-complaint lookup of every filing (integrations/tickets/filing.py).
        Index("ix_tickets_place_category", "place", "category"),
    )


class TimelineRow(Base):
    """One change of a ticket: who (``resident:o…``, ``staff:name``, ``system``,
    ``dispatch:open311``), when, from which status to which, and why."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class TicketCounterRow(Base):
    """The last ticket number given out on a local day (``20261123`` → 42)."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class DispatchJobRow(Base):
    """The transactional outbox: one delivery of a ticket generation to the dispatch system.

    ``status``: ``pending`` (due at ``next_attempt_at``; claimed while ``lease_until`` is in
    the future), ``delivered``, ``parked`` (given up; staff re-queue it), ``cancelled`` (the
    ticket was finished before it was delivered).
    """

    __tablename__ = "dispatch_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    generation: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(128), index=True)
    token: Mapped[str | None] = mapped_column(String(128))
    backend: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("ticket_id", "generation"),
        Index("ix_dispatch_jobs_status_next_attempt_at", "status", "next_attempt_at"),
    )


class DispatchEventRow(Base):
    """A status event a dispatch system pushed to the webhook, recorded in the transaction
    that applied it: the same ``event_id`` again (a retry, a replay after a restart) changes
    nothing. Rows older than the retention (a week) are pruned as new ones arrive."""

    __tablename__ = "dispatch_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(index=True)


class PushJobRow(Base):
    """A status message owed to a resident. ``status``: ``pending``, ``sent``, ``failed``
    (after the last attempt; staff re-queue it), ``skipped`` (nothing can reach them)."""

    __tablename__ = "push_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    openid: Mapped[str] = mapped_column(String(64))
    ticket_status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    template_data: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    via: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_push_jobs_status_next_attempt_at", "status", "next_attempt_at"),)


class PushAttemptRow(Base):
    """One channel tried for a push (its fate, as staff read it on the ticket).

    ``channel``: ``custom``, ``template``, ``subscription``, ``sms``. ``outcome``:
    ``sending`` (written before the send: a row left so means the answer never came),
    ``delivered``, ``refused`` (the channel said no for good: next channel), ``failed``
    (a transient failure: the push is retried later), ``unknown`` (sent, answer lost: never
    sent again by itself), ``skipped`` (not tried: not configured, no consent)."""

    __tablename__ = "push_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    push_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("push_jobs.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class SubscriptionConsentRow(Base):
    """A resident's consent to a subscription message (订阅通知) template: ``one_time``
    consents allow ``remaining`` sends (each accept adds one), ``long_term`` ones any
    number. Revoked consents are deleted."""

    __tablename__ = "subscription_consents"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    remaining: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketWarningRow(Base):
    """A warning (预警) sent to a ticket's department: one per clock run and level (the
    unique ``key`` makes it fire once, whatever the number of workers), with the fate of
    its webhook delivery (``webhook_status``: pending, sent, failed, off)."""

    __tablename__ = "ticket_warnings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(80))
    clock: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    deadline: Mapped[datetime]
    created_at: Mapped[datetime]
    webhook_status: Mapped[str] = mapped_column(String(16))
    webhook_attempts: Mapped[int] = mapped_column(Integer)
    webhook_next_at: Mapped[datetime | None]
    webhook_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("ticket_id", "key"),
        Index("ix_ticket_warnings_webhook_status_webhook_next_at", "webhook_status",
              "webhook_next_at"),
    )


class RoutingDisputeRow(Base):
    """A department's return of a ticket that is not theirs (退单) and the review above it
    (审定): ``pending``, then ``rerouted`` (another department takes it) or ``sent_back``
    (the return did not stand). A decided one is a labelled routing example: this text,
    of this category, belongs to ``to_department``."""

    __tablename__ = "routing_disputes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    generation: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    #: the resident's description as stored with the ticket (ID and card numbers masked)
    text: Mapped[str] = mapped_column(Text)
    from_department: Mapped[str] = mapped_column(String(64), index=True)
    suggested_department: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    returned_by: Mapped[str] = mapped_column(String(128))
    returned_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), index=True)
    to_department: Mapped[str | None] = mapped_column(String(64))
    to_category: Mapped[str | None] = mapped_column(String(64))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None]


class ResidentRow(Base):
    """When a resident last wrote (WeChat's 48-hour customer-service window) and how many
    customer-service pushes they got since."""

    __tablename__ = "residents"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_inbound_at: Mapped[datetime]
    cs_sent: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class DeskAssignmentRow(Base):
    """A ticket generation received by the embedded dispatch desk (one per idempotency key)."""

    __tablename__ = "desk_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    department: Mapped[str] = mapped_column(String(64))
    grid: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class HandoffRow(Base):
    """An escalated chat (转人工): ``waiting`` for staff, ``active``, ``closed``."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: the staff member who took the chat (``None`` while it waits)
    assignee: Mapped[str | None] = mapped_column(String(64), default=None)


class HandoffMessageRow(Base):
    """One line of a handoff's transcript (resident, staff or bot)."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("handoffs.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)


class FAQTopicRow(Base):
    """A curated FAQ answer with its question variants; seeded from the knowledge-base YAML
    and edited by admins at run time."""

    __tablename__ = "faq_topics"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    answer: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class UserRow(Base):
    """A console account (``staff`` or ``admin``); the password is an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    #: raised when sessions must end (disabled, password changed or reset): a session
    #: stamped with an older value is refused
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    #: SHA-256 of the one-time password-reset code an admin issued, while it is valid
    reset_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    reset_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditRow(Base):
    """Who saw or changed what, when, from where (append-only)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)


class TrainingExampleRow(Base):
    """One NLU training example (seeded from the packaged Rasa YAML, curated by admins)."""

    __tablename__ = "training_examples"
    __table_args__ = (UniqueConstraint("intent", "text"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    intent: Mapped[str] = mapped_column(String(64), index=True)
    #: the example in Rasa's annotated form (``[望京西园](address)``)
    text: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]


class TrainingSeedReleaseRow(Base):
    """A version of the packaged training data already copied into ``training_examples``:
    an upgrade that ships new examples (new intents) adds them once, on first start."""

    __tablename__ = "training_seed_releases"

    #: SHA-256 of the packaged data (``TrainingData.fingerprint``)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    added: Mapped[int] = mapped_column(Integer)
    seeded_at: Mapped[datetime]


class TrainingSeedRemovalRow(Base):
    """A packaged example an admin deleted: a later release never brings it back."""

    __tablename__ = "training_seed_removals"

    intent: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(String(500), primary_key=True)
    removed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    removed_at: Mapped[datetime]


class ReviewItemRow(Base):
    """A resident message the NLU was unsure about or that ended in a handoff, waiting
    for an admin to say what it meant (the answer becomes a training example)."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    openid: Mapped[str] = mapped_column(String(64))
    #: the message with phone and ID numbers masked
    text: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(32))
    guess: Mapped[str | None] = mapped_column(String(64), default=None)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16), index=True)
    resolved_intent: Mapped[str | None] = mapped_column(String(64), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class ModelReleaseRow(Base):
    """A trained NLU model: its evaluation, and when and by whom it was published."""

    __tablename__ = "model_releases"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    trained_at: Mapped[datetime]
    trained_by: Mapped[str] = mapped_column(String(64))
    examples: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    published_by: Mapped[str | None] = mapped_column(String(64), default=None)


# -- analytics (issue 15) ----------------------------------------------------------------------


class TicketClusterRow(Base):
    """The problem cluster (一类问题) a ticket belongs to, as the cluster keeper decided it
    (``integrations/analytics/keeper.py``). ``reason``: new, similar, correction, rebuild."""

    __tablename__ = "ticket_clusters"

    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    similarity: Mapped[float] = mapped_column(Float)
    assigned_at: Mapped[datetime]


class ClusterRow(Base):
    """A cluster of two or more tickets, summarised for the console and the map (rewritten
    by the keeper; the tickets' ``ticket_clusters`` rows are the truth)."""

    __tablename__ = "clusters"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(128))
    street: Mapped[str | None] = mapped_column(String(64))
    community: Mapped[str | None] = mapped_column(String(64))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime] = mapped_column(index=True)
    size: Mapped[int] = mapped_column(Integer)
    residents: Mapped[int] = mapped_column(Integer)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime]


class ClusterCorrectionRow(Base):
    """A staff merge or split of clusters (append-only; also in ``audit_log``): replayed on
    every rebuild as must-link / cannot-link constraints."""

    __tablename__ = "cluster_corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    #: the ticket ids of each group (one group for a merge, two or more for a split)
    groups: Mapped[list[list[str]]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class AnalyticsAlertRow(Base):
    """A surge or hot-spot alert (未诉先办), once per ``key`` (a surge's area × category ×
    week; a hot spot's cluster × day), and its delivery to the alert webhook
    (``webhook_status``: pending, sent, failed, off)."""

    __tablename__ = "analytics_alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    area: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    cluster_id: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)
    webhook_status: Mapped[str] = mapped_column(String(16))
    webhook_attempts: Mapped[int] = mapped_column(Integer)
    webhook_next_at: Mapped[datetime | None]
    webhook_error: Mapped[str | None] = mapped_column(Text)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_analytics_alerts_webhook_status_webhook_next_at", "webhook_status",
              "webhook_next_at"),
    )


class TicketFollowerRow(Base):
    """A resident who reported a problem already being handled and chose to follow that
    ticket instead of filing another: they get its status pushes and count as one more
    resident of its cluster. Their own words are kept for staff (phones redacted)."""

    __tablename__ = "ticket_followers"
    __table_args__ = (UniqueConstraint("ticket_id", "openid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("tickets.id", ondelete="CASCADE")
    )
    openid: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    #: the ticket's last timeline entry this follower was told about (pushes fan out later)
    last_event_id: Mapped[int] = mapped_column(BigInteger)


class AnalyticsLeaseRow(Base):
    """Which process keeps the problem clusters (one writer), until when."""

    __tablename__ = "analytics_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime]
