"""Pages of the 12345 loop for staff: the review queue of returns (退单审定) with the bounce
counts per department, and the warnings (预警) sent to departments.

==========================================  ================================================
``GET /console/returns``                    returns waiting for review, oldest first (each
                                            links to its ticket, where the review form is);
                                            per department: returns, upheld, sent back,
                                            waiting (the last ``days``, default 30)
``GET /console/warnings``                   the latest warnings, filter ``department``;
                                            per department: yellow, red, overdue
==========================================  ================================================

Text from residents is masked as on the ticket list (:mod:`privacy.masking`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from bot.console.context import Console
from bot.console.security import StaffSession
from integrations.tickets import TicketService
from policies.deadlines import CLOCK_LABELS, LEVEL_LABELS
from privacy import mask_text

__all__ = ["build_ticket_loop_router"]


def build_ticket_loop_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def service() -> TicketService:
        tickets = console.runtime.ticket_service
        if tickets is None:  # the runtime always has one; a bare test app may not
            raise RuntimeError("the console's runtime has no ticket service")
        return tickets

    def when(value: datetime | None) -> str:
        zone = service().core.tz
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    @router.get("/console/returns", response_class=HTMLResponse)
    async def returns_page(
        request: Request,
        session: StaffSession,
        days: Annotated[int, Query(ge=1, le=366)] = 30,
    ) -> HTMLResponse:
        tickets = service()
        labels = tickets.core.taxonomy
        pending = await tickets.returns.pending(limit=200)
        counts = await tickets.returns.bounce_counts(since=tickets.now() - timedelta(days=days))
        return console.render(
            request,
            "returns.html",
            days=days,
            pending=[
                {
                    "ticket_id": d.ticket_id,
                    "category": labels.label(d.category),
                    "text": mask_text(d.text),
                    "from_department": d.from_department,
                    "suggested": d.suggested_department or "",
                    "reason": mask_text(d.reason),
                    "at": when(d.returned_at),
                }
                for d in pending
            ],
            counts=counts,
        )

    @router.get("/console/warnings", response_class=HTMLResponse)
    async def warnings_page(
        request: Request, session: StaffSession, department: str = ""
    ) -> HTMLResponse:
        tickets = service()
        department = department.strip()[:64]
        recent = await tickets.warnings.recent(department=department or None, limit=200)
        counts = await tickets.warnings.counts(since=tickets.now() - timedelta(days=30))
        return console.render(
            request,
            "warnings.html",
            department=department,
            departments=sorted({c.department for c in counts}),
            warnings=[
                {
                    "ticket_id": w.ticket_id,
                    "department": w.department,
                    "clock": CLOCK_LABELS.get(w.clock, w.clock),
                    "level": w.level,
                    "level_label": LEVEL_LABELS.get(w.level, w.level),
                    "text": w.text,
                    "at": when(w.created_at),
                    "deadline": when(w.deadline),
                    "webhook": w.webhook_status,
                }
                for w in recent
            ],
            counts=counts,
        )

    return router
