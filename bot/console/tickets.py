"""工单 pages for staff: the list with filters and search, the detail, reveal and actions.

============================================  ============================================
``GET  /console/tickets``                     filters ``status`` (or ``open``),
                                              ``category``, ``department``, ``urgent``,
                                              ``overdue`` (``1``/``0``), search ``q`` (id,
                                              words of description/location), ``page``
                                              (1–100,000; anything else: 422)
``GET  /console/tickets/{id}``                the ticket, phone/address/free text masked
                                              (audited ``ticket.view``)
``GET  /console/tickets/{id}/photos/{n}``     photo ``n`` of the ticket, fetched from
                                              WeChat's image hosts (remote images are
                                              never loaded by staff browsers)
``POST /console/tickets/{id}/reveal``         the same page unmasked (``ticket.reveal``)
``POST /console/tickets/{id}/status``         ``status``, ``note`` (``ticket.status``)
``POST /console/tickets/{id}/return``         ``note``, ``department`` — a department
                                              return: escalates (``ticket.return``)
``POST /console/tickets/{id}/assign``         ``department``, ``grid``, ``note``
                                              (``ticket.assign``)
============================================  ============================================

A successful action redirects to the detail page (``?done=…`` picks a fixed message, so
nothing a visitor typed is echoed back); a refused one shows the page again with a Chinese
explanation and 409 (the status machine says no) or 422 (a field is missing). The actor
recorded on the ticket's timeline is ``staff:<username>``. Masking rules:
:mod:`privacy.masking`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.api.bounds import TicketId
from bot.console.context import Console
from bot.console.security import StaffSession
from integrations.accounts import ConsoleSession
from integrations.tickets import (
    IllegalTransition,
    InvalidTicket,
    Ticket,
    TicketError,
    TicketNotFound,
    TicketService,
)
from integrations.wechat.photos import PhotoUnavailable
from policies.tickets import (
    DEFAULT_GRID,
    OPEN_STATUSES,
    RATING_LABELS,
    STATUSES,
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    GridRules,
    level_label,
    load_grid_rules,
    next_level,
    status_label,
    transition_problem,
)
from privacy import mask_address, mask_openid, mask_phone, mask_text

__all__ = ["PAGE_SIZE", "build_tickets_router"]

log = logging.getLogger(__name__)

PAGE_SIZE = 20
#: a ticket holds at most nine photos: indexes 0…8
MAX_PHOTO_INDEX = 8
#: two million tickets at twenty a page; a larger page number is a mistake or a probe
MAX_PAGE = 100_000
_MAX_NOTE = 4000

_DONE = {
    "status": "工单状态已更新。",
    "return": "已退回并提交上一级办理，系统会重新派单。",
    "assign": "已保存指派，时间线里有记录。",
    "escalate": "已升级办理，新的办理时限已生效。",
}
_DELIVERY_LABELS = {
    "pending": "等待派送",
    "delivered": "已送达派单系统",
    "parked": "派送暂停，需要人工处理",
    "cancelled": "已取消",
}
_CHANNEL_LABELS = {
    "wechat": "微信公众号",
    "phone": "电话",
    "walk_in": "现场",
    "web": "网站",
    "app": "App",
    "email": "邮件",
    "other": "其他渠道",
}
_CHAT_ROLES = {"resident": "群众", "bot": "机器人", "staff": "工作人员"}


def _actor_label(actor: str) -> str:
    """Who did it, in words (a resident's openid is not shown)."""
    kind, _, name = actor.partition(":")
    if kind == "resident":
        return "群众"
    if kind == "staff":
        return f"工作人员 {name}" if name else "工作人员"
    if kind == "system":
        return "系统"
    if kind == "dispatch":
        return f"派单系统（{name}）" if name else "派单系统"
    return actor


def _status_refusal(current: str, target: str, note: str) -> str:
    """Why the status machine refuses ``current → target``, in Chinese."""
    if target not in STATUSES:
        return "请从列表中选择一个状态。"
    if current in TERMINAL_STATUSES:
        return f"工单已是“{status_label(current)}”，不能再更改状态。"
    if target in ("closed", "reopened"):
        return f"“{status_label(target)}”只能由群众评价产生，不能手动设置。"
    if current == "resolved":
        return "工单已办结，正在等待群众评价，不能再更改状态。"
    if target == "rejected" and not note:
        return "退回工单需要填写原因，原因会告知群众。"
    if target == current:
        return f"工单已经是“{status_label(current)}”了。"
    return f"工单当前是“{status_label(current)}”，不能改为“{status_label(target)}”。"


def _return_refusal(ticket: Ticket) -> str:
    if ticket.status not in ("dispatched", "in_progress"):
        return (
            "只有“已派单”或“处理中”的工单可以退回上一级，"
            f"这张工单当前是“{ticket.status_label}”。"
        )
    if next_level(ticket.level) is None:
        return "工单已在市级，无法再升级；请办结，或填写原因后将工单退回群众。"
    return "退回没有成功，请刷新页面后重试。"


def _flag(value: str) -> bool | None:
    """``1`` / ``0`` of a yes/no filter; anything else: no filter."""
    return {"1": True, "0": False}.get(value)


def build_tickets_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def service() -> TicketService:
        ticket_service = console.runtime.ticket_service
        if ticket_service is None:  # the runtime always has one; a bare test app may not
            raise RuntimeError("the console's runtime has no ticket service")
        return ticket_service

    def tz() -> tzinfo:
        return service().core.tz

    def when(value: datetime | None) -> str:
        return value.astimezone(tz()).strftime("%Y-%m-%d %H:%M") if value else ""

    def category_label(category: str) -> str:
        return service().core.taxonomy.label(category)

    def departments(current: str | None = None) -> list[str]:
        taxonomy = service().core.taxonomy
        names = {taxonomy.department(i) for i in taxonomy.report_ids} | {DEFAULT_GRID}
        if current:
            names.add(current)
        return sorted(n for n in names if n)

    grid_rules: list[GridRules] = []  # read once, on first use

    def grids(current: str | None = None) -> list[str]:
        if not grid_rules:
            grid_rules.append(load_grid_rules(service().config.grid_rules_file))
        rules = grid_rules[0]
        names = [rule.grid for rule in rules.rules] + [rules.default_grid]
        if current and current not in names:
            names.append(current)
        return list(dict.fromkeys(names))

    # -- the list ---------------------------------------------------------------------------

    @router.get("/console/tickets", response_class=HTMLResponse)
    async def ticket_list(
        request: Request,
        session: StaffSession,
        status: str = "",
        category: str = "",
        department: str = "",
        urgent: str = "",
        overdue: str = "",
        q: str = "",
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    ) -> HTMLResponse:
        tickets = service()
        taxonomy = tickets.core.taxonomy
        q = q.strip()[:200]
        # Unknown values are ignored rather than refused: a hand-edited URL still shows a list.
        statuses: list[str] | None = None
        if status == "open":
            statuses = [s for s in STATUSES if s in OPEN_STATUSES]
        elif status in STATUSES:
            statuses = [status]
        else:
            status = ""
        if category not in taxonomy.report_ids:
            category = ""
        known_departments = departments()
        if department not in known_departments:
            department = ""
        filters: dict[str, Any] = {
            "statuses": statuses,
            "category": category or None,
            "department": department or None,
            "urgent": _flag(urgent),
            "overdue": _flag(overdue),
            "search": q or None,
        }
        total = await tickets.count_tickets(**filters)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        number = min(page, pages)
        found = await tickets.list_tickets(
            **filters, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        )
        now = tickets.now()
        query = {
            "status": status,
            "category": category,
            "department": department,
            "urgent": urgent if _flag(urgent) is not None else "",
            "overdue": overdue if _flag(overdue) is not None else "",
            "q": q,
        }

        def page_url(n: int) -> str:
            kept = {k: v for k, v in query.items() if v}
            return "/console/tickets?" + urlencode({**kept, "page": n})

        rows = [
            {
                "id": t.id,
                "category": category_label(t.category),
                "status": t.status,
                "status_label": t.status_label,
                "department": t.department,
                "location": mask_address(t.location),
                "created": when(t.created_at),
                "due": when(t.sla_due_at) if t.status in WORKING_STATUSES else "",
                "overdue": t.overdue(now),
                "urgent": t.urgent,
            }
            for t in found
        ]
        return console.render(
            request,
            "tickets.html",
            rows=rows,
            query=query,
            total=total,
            page=number,
            pages=pages,
            prev_url=page_url(number - 1) if number > 1 else None,
            next_url=page_url(number + 1) if number < pages else None,
            status_options=[(s, status_label(s)) for s in STATUSES],
            category_options=[(i, taxonomy.label(i)) for i in taxonomy.report_ids],
            department_options=known_departments,
        )

    # -- one ticket -------------------------------------------------------------------------

    def detail_context(ticket: Ticket, revealed: bool) -> dict[str, Any]:
        text = (lambda value: value or "") if revealed else mask_text
        now = service().now()
        next_statuses = [
            (s, status_label(s))
            for s in STATUSES
            if transition_problem(ticket.status, s, note="-") is None
        ]
        delivery = ticket.delivery
        return {
            "ticket": ticket,
            "revealed": revealed,
            "category": category_label(ticket.category),
            "channel": _CHANNEL_LABELS.get(ticket.channel, ticket.channel),
            "level": level_label(ticket.level),
            "phone": (ticket.phone if revealed else mask_phone(ticket.phone)) or "（未留）",
            "location": ticket.location if revealed else mask_address(ticket.location),
            "description": text(ticket.description),
            "openid": (
                ticket.openid if revealed or not ticket.openid else mask_openid(ticket.openid)
            ),
            "coordinates": (
                None
                if ticket.latitude is None or ticket.longitude is None
                else (
                    f"{ticket.latitude:.6f}, {ticket.longitude:.6f}"
                    if revealed
                    else "已提供（查看完整信息后显示）"
                )
            ),
            "created": when(ticket.created_at),
            "updated": when(ticket.updated_at),
            "due": when(ticket.sla_due_at),
            "overdue": ticket.overdue(now),
            "working": ticket.status in WORKING_STATUSES,
            "rating": RATING_LABELS.get(ticket.rating or "", ticket.rating),
            "rating_reason": text(ticket.rating_reason) if ticket.rating_reason else "",
            "timeline": [
                {
                    "at": when(entry.at),
                    "actor": _actor_label(entry.actor),
                    "from": status_label(entry.from_status) if entry.from_status else "",
                    "to": status_label(entry.to_status),
                    "changed": entry.from_status != entry.to_status,
                    "note": text(entry.note) if entry.note else "",
                }
                for entry in reversed(ticket.history)  # newest first
            ],
            "delivery": (
                {
                    "status": _DELIVERY_LABELS.get(delivery.status, delivery.status),
                    "parked": delivery.status == "parked",
                    "attempts": delivery.attempts,
                    "backend": delivery.backend or "",
                    "external_id": delivery.external_id or "",
                    "delivered": when(delivery.delivered_at),
                    "error": delivery.last_error or "",
                    "generation": delivery.generation,
                }
                if delivery
                else None
            ),
            "chat": [
                {
                    "role": line.get("role", ""),
                    "who": _CHAT_ROLES.get(line.get("role", ""), line.get("role", "")),
                    "at": _chat_time(line.get("at", ""), tz()),
                    "text": text(line.get("text", "")),
                }
                for line in ticket.chat
            ],
            # Photos on WeChat's image hosts are shown through this origin; other addresses
            # are shown as text, never loaded (see integrations/wechat/photos.py).
            "photos": [
                {
                    "url": url,
                    "src": f"/console/tickets/{ticket.id}/photos/{n}"
                    if console.photos.allowed(url)
                    else None,
                    "web": url.startswith(("https://", "http://")),
                }
                for n, url in enumerate(ticket.photos)
            ],
            "next_statuses": next_statuses,
            "can_return": ticket.status in ("dispatched", "in_progress")
            and next_level(ticket.level) is not None,
            "can_escalate": ticket.status in WORKING_STATUSES
            and next_level(ticket.level) is not None,
            "departments": departments(ticket.department),
            "grids": grids(ticket.grid),
        }

    async def show(
        request: Request,
        session: ConsoleSession,
        ticket_id: str,
        *,
        revealed: bool = False,
        error: str = "",
        flash: str = "",
        status_code: int = 200,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        ticket = await service().find(ticket_id)
        if ticket is None:
            return console.render(
                request, "error.html", 404, message="没有找到这张工单，请核对工单号。"
            )
        await console.audit(
            request, session, "ticket.reveal" if revealed else "ticket.view", f"ticket:{ticket.id}"
        )
        return console.render(
            request,
            "ticket_detail.html",
            status_code,
            error=error,
            flash=flash,
            form=form or {},
            **detail_context(ticket, revealed),
        )

    def redirect_done(ticket_id: str, what: str) -> RedirectResponse:
        return RedirectResponse(
            f"/console/tickets/{ticket_id}?{urlencode({'done': what})}", status_code=303
        )

    @router.get("/console/tickets/{ticket_id}", response_class=HTMLResponse)
    async def ticket_detail(
        request: Request, session: StaffSession, ticket_id: TicketId, done: str = ""
    ) -> Response:
        return await show(request, session, ticket_id, flash=_DONE.get(done, ""))

    @router.post("/console/tickets/{ticket_id}/reveal", response_class=HTMLResponse)
    async def ticket_reveal(
        request: Request, session: StaffSession, ticket_id: TicketId
    ) -> Response:
        return await show(
            request,
            session,
            ticket_id,
            revealed=True,
            flash="已显示完整的联系方式和地址，本次查看已记入审计日志。",
        )

    @router.get("/console/tickets/{ticket_id}/photos/{n}")
    async def ticket_photo(
        session: StaffSession,
        ticket_id: TicketId,
        n: Annotated[int, Path(ge=0, le=MAX_PHOTO_INDEX)],
    ) -> Response:
        """One of the ticket's photos, fetched from WeChat's image hosts (only addresses on
        the ticket, only those hosts, size and type checked)."""
        ticket = await service().find(ticket_id)
        if ticket is None or n >= len(ticket.photos):
            return Response("没有这张照片", status_code=404, media_type="text/plain")
        try:
            photo = await console.photos.fetch(ticket.photos[n])
        except PhotoUnavailable as exc:
            log.info("photo %d of ticket %s not shown: %s", n, ticket.id, exc)
            return Response("照片暂时无法显示", status_code=404, media_type="text/plain")
        return Response(
            photo.content,
            media_type=photo.media_type,
            headers={"Content-Disposition": "inline"},
        )

    # -- actions ----------------------------------------------------------------------------

    @router.post("/console/tickets/{ticket_id}/status")
    async def ticket_status(
        request: Request,
        session: StaffSession,
        ticket_id: TicketId,
        status: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        note = note.strip()
        form = {"status": status, "note": note}
        current = await service().find(ticket_id)
        if current is None:
            return await show(request, session, ticket_id)
        if len(note) > _MAX_NOTE:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error=f"备注太长了，请精简到 {_MAX_NOTE} 字以内。",
            )
        problem = transition_problem(current.status, status, note=note)
        if problem is not None:
            # Checked here for a Chinese explanation; the service checks again under its lock.
            # 422: the form is incomplete (unknown status, a rejection without its reason);
            # 409: the status machine does not allow this change.
            fixable = transition_problem(current.status, status, note="-") is None
            code = 422 if status not in STATUSES or fixable else 409
            return await show(
                request, session, ticket_id, status_code=code, form=form,
                error=_status_refusal(current.status, status, note),
            )
        try:
            ticket = await service().transition(
                ticket_id, status, note=note or None, actor=f"staff:{session.username}"
            )
        except IllegalTransition as exc:  # someone else changed it in between
            return await show(
                request, session, ticket_id, status_code=409, form=form,
                error=_status_refusal(exc.from_status, status, note),
            )
        except InvalidTicket:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error=_status_refusal(current.status, status, note),
            )
        await console.audit(
            request, session, "ticket.status", f"ticket:{ticket.id}",
            detail=f"{current.status} → {ticket.status}",
        )
        return redirect_done(ticket.id, "status")

    @router.post("/console/tickets/{ticket_id}/return")
    async def ticket_return(
        request: Request,
        session: StaffSession,
        ticket_id: TicketId,
        note: Annotated[str, Form()] = "",
        department: Annotated[str, Form()] = "",
    ) -> Response:
        note, department = note.strip(), department.strip()
        form = {"return_note": note, "return_department": department}
        if not note or len(note) > _MAX_NOTE:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error="请填写退回原因（不超过 4000 字）。",
            )
        if department and department not in departments():
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error="请从列表中选择接手的部门。",
            )
        try:
            ticket = await service().department_return(
                ticket_id, note, actor=f"staff:{session.username}", department=department or None
            )
        except TicketNotFound:
            return await show(request, session, ticket_id)
        except IllegalTransition:
            current = await service().find(ticket_id)
            return await show(
                request, session, ticket_id, status_code=409, form=form,
                error=_return_refusal(current) if current else "",
            )
        except TicketError:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error="退回信息不完整，请检查后重试。",
            )
        await console.audit(
            request, session, "ticket.return", f"ticket:{ticket.id}",
            detail=f"升级至{ticket.level_label}级" + (f"，{department}" if department else ""),
        )
        return redirect_done(ticket.id, "return")

    @router.post("/console/tickets/{ticket_id}/assign")
    async def ticket_assign(
        request: Request,
        session: StaffSession,
        ticket_id: TicketId,
        department: Annotated[str, Form()] = "",
        grid: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        department, grid, note = department.strip(), grid.strip(), note.strip()
        form = {"assign_department": department, "assign_grid": grid, "assign_note": note}
        current = await service().find(ticket_id)
        if current is None:
            return await show(request, session, ticket_id)
        if (department and department not in departments(current.department)) or (
            grid and grid not in grids(current.grid)
        ):
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error="请从列表中选择部门和网格。",
            )
        if len(note) > _MAX_NOTE:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error=f"备注太长了，请精简到 {_MAX_NOTE} 字以内。",
            )
        try:
            ticket = await service().assign(
                ticket_id,
                department=department or None,
                grid=grid or None,
                note=note or None,
                actor=f"staff:{session.username}",
            )
        except IllegalTransition as exc:
            return await show(
                request, session, ticket_id, status_code=409, form=form,
                error=f"工单已是“{status_label(exc.from_status)}”，不能再指派。",
            )
        except InvalidTicket:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error="部门和网格都没有变化，无需保存。",
            )
        await console.audit(
            request, session, "ticket.assign", f"ticket:{ticket.id}",
            detail=f"{ticket.department} / {ticket.grid or '-'}",
        )
        return redirect_done(ticket.id, "assign")

    @router.post("/console/tickets/{ticket_id}/escalate")
    async def ticket_escalate(
        request: Request,
        session: StaffSession,
        ticket_id: TicketId,
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        reason = reason.strip()
        form = {"escalate_reason": reason}
        if not reason or len(reason) > _MAX_NOTE:
            return await show(
                request, session, ticket_id, status_code=422, form=form,
                error="请填写升级原因（不超过 4000 字）。",
            )
        try:
            ticket = await service().escalate_ticket(
                ticket_id, reason, actor=f"staff:{session.username}"
            )
        except TicketNotFound:
            return await show(request, session, ticket_id)
        except IllegalTransition:
            return await show(
                request, session, ticket_id, status_code=409, form=form,
                error="这张工单已办结或已在市级办理，不能再升级。",
            )
        await console.audit(
            request, session, "ticket.escalate", f"ticket:{ticket.id}", detail=ticket.level
        )
        return redirect_done(ticket.id, "escalate")

    return router


def _chat_time(value: str, zone: tzinfo) -> str:
    """A chat line's ISO time in the service's zone (as given when it does not parse)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%m-%d %H:%M")
    return moment.astimezone(zone).strftime("%m-%d %H:%M")
