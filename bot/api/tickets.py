"""The staff API of tickets, the outbox and pushes (bearer ``INTAKE_ADMIN_TOKEN``).

=====================================  ====================================================
``POST /api/tickets``                  enter a ticket for a resident who phoned or walked
                                       in (same path as WeChat: outbox included) → 201
``GET  /api/tickets``                  filters ``openid``, ``status`` (comma-separated),
                                       ``category``, ``urgent``, ``overdue``; ``limit``
                                       (1–500), ``offset`` (≤ 10⁸); newest first →
                                       ``{"items": [...]}``
``GET  /api/tickets/{id}``             one ticket (404 if unknown)
``GET  /api/tickets/{id}/contact``     the resident's phone, location and coordinates
                                       whole, audited ``ticket.reveal`` (actor ``api``)
``POST /api/tickets/{id}/status``      ``{"status", "note", "staff"}`` → 200; 409 when the
                                       status machine refuses; 422 for an unknown status or
                                       a rejection without a note
``POST /api/tickets/{id}/return``      a department returns it (退单): ``{"note",
                                       "department" (the one it believes is right, if
                                       any), "staff"}`` → ``returned``, awaiting review
``POST /api/tickets/{id}/review``      the review of a return (审定): ``{"decision":
                                       "reroute"|"send_back", "department", "category",
                                       "note", "staff"}`` → dispatched again
``GET  /api/returns``                  returns awaiting review, oldest first
``POST /api/tickets/{id}/rating``      a rating taken by phone: ``{"rating", "reason"}``
``GET  /api/outbox?status=parked``     deliveries (``pending``/``delivered``/``parked``/
                                       ``cancelled``)
``POST /api/outbox/{id}/retry``        re-queue a parked delivery (same idempotency key)
``GET  /api/pushes?status=failed``     status pushes to residents
``POST /api/pushes/{id}/retry``        re-queue a failed push
=====================================  ====================================================

Ticket JSON: ``id``, ``openid``, ``category`` (+ ``category_label``), ``status`` (+
``status_label``), ``location``, ``description``, ``phone``, ``photos``, ``urgent``,
``department``, ``grid``, ``level`` (+ ``level_label``), ``channel``, ``sla_due_at`` (the
办结 deadline in working time), ``overdue``, ``clocks`` (``started_at``, ``sign_due_at``,
``signed_at``, ``completion_due_at``, ``completed_at``, ``overdue_count``), ``warnings``
(``key``, ``clock``, ``level``, ``text``, ``deadline``, ``at``, ``webhook``), ``solved``,
``supervision``, ``follow_up`` (``null`` or ``{"at", "state"}``), ``repeat_of``,
``external_id``, ``created_at``, ``updated_at``, ``history`` (``at``,
``actor``, ``from``, ``to``, ``note``), ``rating`` (``null`` or ``{"value", "reason"}``),
``delivery`` (the latest outbox job or ``null``); ``GET /api/tickets/{id}`` adds ``pushes``:
the status pushes to residents, oldest first, each with its ``fate`` (``delivered``,
``undelivered``, ``pending``), ``via`` (the channel that delivered it) and ``steps`` (every
channel of the fallback chain tried or skipped: ``channel``, ``outcome``, ``errcode``,
``detail``, ``at``). Times are ISO 8601 in the service's zone.
``phone`` is masked (``138****5678``): the whole number is given only by ``/contact``,
each time written to the audit log (docs/security.md, "Personal data").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from bot.api.auth import require_bearer_token
from bot.api.bounds import Limit, Offset, RowId, TicketId
from bot.console.security import client_ip
from integrations.accounts import AuditLog
from integrations.tickets import (
    IllegalTransition,
    InvalidTicket,
    JobNotFound,
    JobNotRetryable,
    OutboxJob,
    PushFate,
    PushJob,
    Ticket,
    TicketError,
    TicketFilter,
    TicketNotFound,
    TicketService,
)
from policies.taxonomy import Taxonomy
from policies.tickets import CHANNELS, RATINGS, STATUSES
from privacy import mask_phone

__all__ = [
    "create_tickets_router",
    "outbox_job_json",
    "push_fate_json",
    "push_job_json",
    "ticket_json",
]



def _known(values: Iterable[str], what: str) -> AfterValidator:
    """Accept only ``values`` (the rules' own vocabulary: the API never restates it)."""
    allowed = tuple(values)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; one of {', '.join(allowed)}")
        return value

    return AfterValidator(check)


def _listed(values: Iterable[str]) -> WithJsonSchema:
    """The OpenAPI schema of such a field: a string, one of ``values``."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


Status = Annotated[str, _known(STATUSES, "status"), _listed(STATUSES)]
Channel = Annotated[str, _known(sorted(CHANNELS), "channel"), _listed(sorted(CHANNELS))]
Rating = Annotated[str, _known(RATINGS, "rating"), _listed(RATINGS)]


class TicketIn(BaseModel):
    """A ticket entered by staff."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="a report.* id of the taxonomy")
    location: str = Field(min_length=1, max_length=4000)
    description: str = Field(min_length=1, max_length=4000)
    phone: str = Field(min_length=1, max_length=64)
    openid: str | None = Field(None, max_length=64)
    urgent: bool | None = Field(None, description="null: the category's default")
    channel: Channel = "phone"
    photos: list[str] = Field(default_factory=list, max_length=9)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    staff: str | None = Field(None, max_length=64, description="who entered it")


class StatusIn(BaseModel):
    """A status change by staff."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    note: str | None = Field(None, max_length=4000)
    staff: str | None = Field(None, max_length=64)


class ReturnIn(BaseModel):
    """A department returning a ticket (退单), with its reason."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)
    department: str | None = Field(
        None, max_length=64, description="the department the returning one believes is right"
    )
    staff: str | None = Field(None, max_length=64)


class ReviewIn(BaseModel):
    """The review of a return (审定)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["reroute", "send_back"]
    department: str | None = Field(None, max_length=64, description="re-route: to whom")
    category: str | None = Field(None, max_length=64, description="re-route: a new category")
    note: str | None = Field(None, max_length=4000)
    staff: str | None = Field(None, max_length=64)


class RatingIn(BaseModel):
    """A rating taken by staff (e.g. on a call-back)."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating
    reason: str | None = Field(None, max_length=4000)
    staff: str | None = Field(None, max_length=64)


def _time(value: datetime | None, tz: tzinfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


def outbox_job_json(job: OutboxJob, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": job.id,
        "ticket_id": job.ticket_id,
        "generation": job.generation,
        "idempotency_key": job.idempotency_key,
        "status": job.status,
        "attempts": job.attempts,
        "next_attempt_at": _time(job.next_attempt_at, tz),
        "claimed_by": job.claimed_by,
        "lease_until": _time(job.lease_until, tz),
        "last_error": job.last_error,
        "external_id": job.external_id,
        "backend": job.backend,
        "created_at": _time(job.created_at, tz),
        "delivered_at": _time(job.delivered_at, tz),
    }


def push_job_json(job: PushJob, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": job.id,
        "ticket_id": job.ticket_id,
        "openid": job.openid,
        "ticket_status": job.ticket_status,
        "text": job.text,
        "status": job.status,
        "attempts": job.attempts,
        "via": job.via,
        "last_error": job.last_error,
        "next_attempt_at": _time(job.next_attempt_at, tz),
        "created_at": _time(job.created_at, tz),
        "sent_at": _time(job.sent_at, tz),
    }


_FATES = {"sent": "delivered", "failed": "undelivered"}


def push_fate_json(fate: PushFate, tz: tzinfo) -> dict[str, Any]:
    """A push as shown with its ticket: where it went, or why it went nowhere."""
    push = fate.push
    return {
        "id": push.id,
        "openid": push.openid,
        "ticket_status": push.ticket_status,
        "status": push.status,
        "fate": _FATES.get(push.status, "pending"),
        "via": push.via,
        "attempts": push.attempts,
        "last_error": push.last_error,
        "created_at": _time(push.created_at, tz),
        "sent_at": _time(push.sent_at, tz),
        "steps": [
            {
                "channel": step.channel,
                "outcome": step.outcome,
                "errcode": step.errcode,
                "detail": step.detail,
                "at": _time(step.finished_at or step.started_at, tz),
            }
            for step in fate.attempts
        ],
    }


def ticket_json(ticket: Ticket, *, now: datetime, tz: tzinfo, taxonomy: Taxonomy) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "openid": ticket.openid,
        "category": ticket.category,
        "category_label": taxonomy.label(ticket.category),
        "status": ticket.status,
        "status_label": ticket.status_label,
        "location": ticket.location,
        "description": ticket.description,
        "phone": mask_phone(ticket.phone),
        "photos": list(ticket.photos),
        "latitude": ticket.latitude,
        "longitude": ticket.longitude,
        "urgent": ticket.urgent,
        "department": ticket.department,
        "grid": ticket.grid,
        "street": ticket.street,
        "community": ticket.community,
        "level": ticket.level,
        "level_label": ticket.level_label,
        "channel": ticket.channel,
        "sla_due_at": _time(ticket.sla_due_at, tz),
        "overdue": ticket.overdue(now),
        "clocks": {
            "started_at": _time(ticket.clock_started_at, tz),
            "sign_due_at": _time(ticket.sign_due_at, tz),
            "signed_at": _time(ticket.signed_at, tz),
            "completion_due_at": _time(ticket.sla_due_at, tz),
            "completed_at": _time(ticket.completed_at, tz),
            "overdue_count": ticket.overdue_count,
        },
        "warnings": [
            {
                "key": w.key,
                "clock": w.clock,
                "level": w.level,
                "text": w.text,
                "deadline": _time(w.deadline, tz),
                "at": _time(w.created_at, tz),
                "webhook": w.webhook_status,
            }
            for w in ticket.warnings
        ],
        "solved": ticket.solved,
        "supervision": ticket.supervision,
        "follow_up": (
            {"at": _time(ticket.follow_up_at, tz), "state": ticket.follow_up}
            if ticket.follow_up
            else None
        ),
        "repeat_of": ticket.repeat_of,
        "external_id": ticket.external_id,
        "dispatch_backend": ticket.dispatch_backend,
        "created_at": _time(ticket.created_at, tz),
        "updated_at": _time(ticket.updated_at, tz),
        "history": [
            {
                "at": _time(entry.at, tz),
                "actor": entry.actor,
                "from": entry.from_status,
                "to": entry.to_status,
                "note": entry.note,
            }
            for entry in ticket.history
        ],
        "rating": (
            {"value": ticket.rating, "reason": ticket.rating_reason} if ticket.rating else None
        ),
        "delivery": outbox_job_json(ticket.delivery, tz) if ticket.delivery else None,
    }


def _error(exc: TicketError) -> JSONResponse:
    if isinstance(exc, TicketNotFound | JobNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, IllegalTransition):
        return JSONResponse(
            {"detail": exc.reason, "from": exc.from_status, "to": exc.to_status},
            status_code=409,
        )
    if isinstance(exc, JobNotRetryable):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    if isinstance(exc, InvalidTicket):
        return JSONResponse({"detail": str(exc)}, status_code=422)
    raise exc


def _staff(name: str | None) -> str:
    name = (name or "").strip()
    return f"staff:{name}" if name else "staff"


def create_tickets_router(
    service: TicketService,
    *,
    admin_token: str,
    audit_log: AuditLog,
    taxonomy: Taxonomy | None = None,
) -> APIRouter:
    """The router of the endpoints above; every one needs ``Bearer <admin_token>``.

    ``service`` is the process's :class:`TicketService` (its clock and time zone are used
    for ``overdue`` and the times in the JSON); ``audit_log`` records each ``/contact``.
    """
    taxonomy = taxonomy or service.core.taxonomy
    tz = service.core.tz
    report_ids = frozenset(taxonomy.report_ids)
    router = APIRouter(prefix="/api", dependencies=[Depends(require_bearer_token(admin_token))])

    def as_json(ticket: Ticket) -> dict[str, Any]:
        return ticket_json(ticket, now=service.now(), tz=tz, taxonomy=taxonomy)

    @router.post("/tickets", status_code=201, tags=["tickets"])
    async def create_ticket(body: TicketIn) -> Any:
        if body.category not in report_ids:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "category"),
                        "msg": f"unknown category {body.category!r}: use a report.* id",
                        "type": "value_error",
                        "input": body.category,
                    }
                ]
            )
        try:
            ticket = await service.filing.file(
                category=body.category,
                description=body.description,
                location=body.location,
                phone=body.phone,
                openid=body.openid,
                urgent=body.urgent,
                channel=body.channel,
                photos=body.photos,
                latitude=body.latitude,
                longitude=body.longitude,
                actor=_staff(body.staff),
            )
        except TicketError as exc:
            return _error(exc)
        return JSONResponse(as_json(ticket), status_code=201)

    @router.get("/tickets", tags=["tickets"])
    async def list_tickets(
        openid: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[
            str | None, Query(max_length=200, description="one or more, comma-separated")
        ] = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        urgent: bool | None = None,
        overdue: bool | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Any:
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
        unknown = [s for s in statuses or () if s not in STATUSES]
        if unknown:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "status"),
                        "msg": f"unknown status {unknown[0]!r}; one of {', '.join(STATUSES)}",
                        "type": "value_error",
                        "input": status,
                    }
                ]
            )
        try:
            where = TicketFilter(
                openid=openid,
                statuses=tuple(statuses) if statuses is not None else None,
                category=category,
                urgent=urgent,
                overdue=overdue,
            )
            tickets = await service.queries.list_tickets(where, limit=limit, offset=offset)
        except TicketError as exc:
            return _error(exc)
        return {"items": [as_json(t) for t in tickets], "limit": limit, "offset": offset}

    @router.get("/tickets/{ticket_id}", tags=["tickets"])
    async def get_ticket(ticket_id: TicketId) -> Any:
        try:
            ticket = await service.queries.get(ticket_id)
        except TicketError as exc:
            return _error(exc)
        pushes = await service.pushes.of_ticket(ticket.id)
        return {**as_json(ticket), "pushes": [push_fate_json(fate, tz) for fate in pushes]}

    @router.get("/tickets/{ticket_id}/contact", tags=["tickets"])
    async def ticket_contact(ticket_id: TicketId, request: Request) -> Any:
        """The contact details whole, for calling the resident back (audited)."""
        try:
            ticket = await service.queries.get(ticket_id)
        except TicketError as exc:
            return _error(exc)
        await audit_log.record(
            "api", "ticket.reveal", f"ticket:{ticket.id}", detail="接口查看", ip=client_ip(request)
        )
        return {
            "id": ticket.id,
            "phone": ticket.phone,
            "location": ticket.location,
            "latitude": ticket.latitude,
            "longitude": ticket.longitude,
        }

    @router.post("/tickets/{ticket_id}/status", tags=["tickets"])
    async def change_status(ticket_id: TicketId, body: StatusIn) -> Any:
        try:
            ticket = await service.status.transition(
                ticket_id, body.status, note=body.note, actor=_staff(body.staff)
            )
        except TicketError as exc:
            return _error(exc)
        return as_json(ticket)

    @router.post("/tickets/{ticket_id}/return", tags=["tickets"])
    async def return_ticket(ticket_id: TicketId, body: ReturnIn) -> Any:
        try:
            ticket = await service.returns.department_return(
                ticket_id, body.note, actor=_staff(body.staff),
                suggested_department=body.department,
            )
        except TicketError as exc:
            return _error(exc)
        return as_json(ticket)

    @router.post("/tickets/{ticket_id}/review", tags=["tickets"])
    async def review_return(ticket_id: TicketId, body: ReviewIn) -> Any:
        try:
            ticket = await service.returns.review(
                ticket_id, body.decision, actor=_staff(body.staff),
                department=body.department, category=body.category, note=body.note,
            )
        except TicketError as exc:
            return _error(exc)
        return as_json(ticket)

    @router.get("/returns", tags=["tickets"])
    async def list_returns(limit: Limit = 100) -> Any:
        pending = await service.returns.pending(limit=limit)
        return {
            "items": [
                {
                    "ticket_id": d.ticket_id,
                    "category": d.category,
                    "from_department": d.from_department,
                    "suggested_department": d.suggested_department,
                    "reason": d.reason,
                    "returned_by": d.returned_by,
                    "returned_at": _time(d.returned_at, tz),
                }
                for d in pending
            ]
        }

    @router.post("/tickets/{ticket_id}/rating", tags=["tickets"])
    async def rate_ticket(ticket_id: TicketId, body: RatingIn) -> Any:
        try:
            ticket = await service.rating.rate(
                ticket_id, body.rating, body.reason, actor=_staff(body.staff)
            )
        except TicketError as exc:
            return _error(exc)
        return as_json(ticket)

    @router.get("/outbox", tags=["outbox"])
    async def list_outbox(
        status: Literal["pending", "delivered", "parked", "cancelled"] | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Any:
        jobs = await service.outbox.jobs(status, limit=limit, offset=offset)
        return {"items": [outbox_job_json(job, tz) for job in jobs]}

    @router.post("/outbox/{job_id}/retry", tags=["outbox"])
    async def retry_outbox(job_id: RowId) -> Any:
        try:
            return outbox_job_json(await service.outbox.requeue(job_id), tz)
        except TicketError as exc:
            return _error(exc)

    @router.get("/pushes", tags=["pushes"])
    async def list_pushes(
        status: Literal["pending", "sent", "failed"] | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Any:
        jobs = await service.pushes.jobs(status, limit=limit, offset=offset)
        return {"items": [push_job_json(job, tz) for job in jobs]}

    @router.post("/pushes/{job_id}/retry", tags=["pushes"])
    async def retry_push(job_id: RowId) -> Any:
        try:
            return push_job_json(await service.pushes.retry(job_id), tz)
        except TicketError as exc:
            return _error(exc)

    return router
