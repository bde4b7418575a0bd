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
                                              returns it (退单, ``ticket.return``): it
                                              waits for review
``POST /console/tickets/{id}/review``         ``decision``, ``department``, ``category``,
                                              ``note`` — the review of a return (审定,
                                              ``ticket.review``)
``POST /console/tickets/{id}/supervise``      ``note`` — a supervisor's review of a
                                              solved but unsatisfied ticket done
                                              (``ticket.supervise``)
``POST /console/tickets/{id}/assign``         ``department``, ``grid``, ``note``
                                              (``ticket.assign``)
``POST /console/tickets/{id}/escalate``       ``reason`` (``ticket.escalate``)
============================================  ============================================

The actions are one handler and one table (:data:`ACTIONS`: the form each reads, the
ticket service it calls, what is audited); the rules are the ticket services' (and through
them :mod:`policies.tickets`), never restated here. A successful action redirects to the
detail page (``?done=…`` picks a fixed message, so nothing a visitor typed is echoed back);
a refused one shows the page again with the rules' Chinese explanation and 409 (the rules
say no) or 422 (a field is missing). The actor recorded on the ticket's timeline is
``staff:<username>``. Masking rules: :mod:`privacy.masking`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.api.bounds import TicketId
from bot.console.context import Console
from bot.console.push_fates import push_fate_rows
from bot.console.security import StaffSession
from integrations.accounts import ConsoleSession
from integrations.tickets import (
    IllegalTransition,
    InvalidTicket,
    Ticket,
    TicketFilter,
    TicketNotFound,
    TicketService,
)
from integrations.wechat.photos import PhotoUnavailable
from policies.deadlines import CLOCK_LABELS, TicketTimes
from policies.deadlines import LEVEL_LABELS as WARNING_LABELS
from policies.tickets import (
    CHANNEL_LABELS,
    CLOCK_STATUSES,
    DEFAULT_GRID,
    OPEN_STATUSES,
    RATING_LABELS,
    REVIEW_LABELS,
    STATUSES,
    WORKING_STATUSES,
    GridRules,
    assignment_refusal,
    escalation_refusal,
    level_label,
    load_grid_rules,
    return_refusal,
    staff_status_choices,
    status_label,
    status_locked_text,
)
from privacy import mask_address, mask_openid, mask_phone, mask_text

__all__ = ["ACTIONS", "PAGE_SIZE", "build_tickets_router"]

log = logging.getLogger(__name__)

PAGE_SIZE = 20
#: a ticket holds at most nine photos: indexes 0…8
MAX_PHOTO_INDEX = 8
#: two million tickets at twenty a page; a larger page number is a mistake or a probe
MAX_PAGE = 100_000
_MAX_NOTE = 4000

_DELIVERY_LABELS = {
    "pending": "等待派送",
    "delivered": "已送达派单系统",
    "parked": "派送暂停，需要人工处理",
    "cancelled": "已取消",
}
_CHAT_ROLES = {"resident": "群众", "bot": "机器人", "staff": "工作人员"}
_WEBHOOK_LABELS = {
    "pending": "等待推送",
    "sent": "已推送",
    "failed": "推送失败",
    "off": "仅控制台（未配置推送地址）",
}
_SUPERVISION_LABELS = {"pending": "待督办复核", "done": "已复核"}
_FOLLOW_UP_LABELS = {
    "due": "待回访",
    "asked": "已回访，等待答复",
    "ok": "回访：问题未再出现",
    "recurred": "回访：问题再次出现",
}


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


#: The text fields of the action forms are at most this long.
_TOO_LONG = f"备注太长了，请精简到 {_MAX_NOTE} 字以内。"
Fields = dict[str, str]
Run = Callable[[TicketService, str, Fields, str], Awaitable[Ticket]]


@dataclass(frozen=True, slots=True)
class Action:
    """One staff action on the ticket page: its form, the service it calls, its audit.

    ``fields`` maps the form's fields to the names the page shows them again under after a
    refusal; ``required`` must be filled (``missing`` says so); ``listed`` fields must be
    one of the page's choices (``unlisted`` says so); ``invalid`` answers a request the
    service finds incomplete when the rules have no words for it.
    """

    fields: Mapping[str, str]
    run: Run
    audit: str
    detail: Callable[[Ticket, Ticket, Fields], str]
    done: str
    required: str | None = None
    missing: str = ""
    listed: tuple[str, ...] = ()
    unlisted: str = ""
    invalid: str = "信息不完整，请检查后重试。"


def _or_none(value: str) -> str | None:
    return value or None


ACTIONS: Mapping[str, Action] = {
    "status": Action(
        fields={"status": "status", "note": "note"},
        run=lambda tickets, ticket_id, form, actor: tickets.status.transition(
            ticket_id, form["status"], note=_or_none(form["note"]), actor=actor
        ),
        audit="ticket.status",
        detail=lambda before, after, form: f"{before.status} → {after.status}",
        done="工单状态已更新。",
    ),
    "return": Action(
        fields={"note": "return_note", "department": "return_department"},
        run=lambda tickets, ticket_id, form, actor: tickets.returns.department_return(
            ticket_id, form["note"], actor=actor,
            suggested_department=_or_none(form["department"]),
        ),
        audit="ticket.return",
        detail=lambda before, after, form: f"{before.department} 退单"
        + (f"，建议{form['department']}" if form["department"] else ""),
        done="已退单，等待上级审定。",
        required="note",
        missing=f"请填写退单原因（不超过 {_MAX_NOTE} 字）。",
        listed=("department",),
        unlisted="请从列表中选择建议的部门。",
        invalid="退单信息不完整，请检查后重试。",
    ),
    "review": Action(
        fields={
            "decision": "review_decision",
            "department": "review_department",
            "category": "review_category",
            "note": "review_note",
        },
        run=lambda tickets, ticket_id, form, actor: tickets.returns.review(
            ticket_id,
            form["decision"],
            actor=actor,
            department=_or_none(form["department"]),
            category=_or_none(form["category"]),
            note=_or_none(form["note"]),
        ),
        audit="ticket.review",
        detail=lambda before, after, form: f"{form['decision']}: {before.department} → "
        f"{after.department}",
        done="审定完成，工单已重新派单。",
        required="decision",
        missing="请选择审定结果。",
        listed=("department", "category"),
        unlisted="请从列表中选择部门和类别。",
        invalid="改派需要选择另一个承办部门。",
    ),
    "supervise": Action(
        fields={"note": "supervise_note"},
        run=lambda tickets, ticket_id, form, actor: tickets.rating.supervise(
            ticket_id, form["note"], actor=actor
        ),
        audit="ticket.supervise",
        detail=lambda before, after, form: "复核完成",
        done="督办复核已记录。",
        required="note",
        missing=f"请填写复核意见（不超过 {_MAX_NOTE} 字）。",
    ),
    "assign": Action(
        fields={"department": "assign_department", "grid": "assign_grid", "note": "assign_note"},
        run=lambda tickets, ticket_id, form, actor: tickets.assignment.assign(
            ticket_id,
            department=_or_none(form["department"]),
            grid=_or_none(form["grid"]),
            note=_or_none(form["note"]),
            actor=actor,
        ),
        audit="ticket.assign",
        detail=lambda before, after, form: f"{after.department} / {after.grid or '-'}",
        done="已保存指派，时间线里有记录。",
        listed=("department", "grid"),
        unlisted="请从列表中选择部门和网格。",
    ),
    "escalate": Action(
        fields={"reason": "escalate_reason"},
        run=lambda tickets, ticket_id, form, actor: tickets.escalation.escalate(
            ticket_id, form["reason"], actor=actor
        ),
        audit="ticket.escalate",
        detail=lambda before, after, form: after.level,
        done="已升级办理，新的办理时限已生效。",
        required="reason",
        missing=f"请填写升级原因（不超过 {_MAX_NOTE} 字）。",
    ),
}


def _form_problem(action: Action, form: Fields, choices: Mapping[str, list[str]]) -> str | None:
    """What is wrong with the form itself (before any rule of the ticket is asked)."""
    for name, value in form.items():
        if name == action.required and not value:
            return action.missing
        if len(value) > _MAX_NOTE:
            return action.missing if name == action.required else _TOO_LONG
    if any(form[name] and form[name] not in choices[name] for name in action.listed):
        return action.unlisted
    return None


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

    def clock_rows(ticket: Ticket, now: datetime) -> list[dict[str, Any]]:
        """Both clocks of the current dispatch, as the ticket page shows them."""
        if ticket.clock_started_at is None:
            return []
        statuses = service().core.clocks.statuses(
            category=ticket.category,
            urgent=ticket.urgent,
            department=ticket.department,
            times=TicketTimes(ticket.clock_started_at, ticket.signed_at, ticket.completed_at),
            now=now,
        )
        rows = []
        for status in statuses:
            label = CLOCK_LABELS[status.clock]
            if status.stopped_at is not None:
                state = f"已{label}（{when(status.stopped_at)}）" + (
                    "，超时" if status.overdue else ""
                )
            elif ticket.status not in CLOCK_STATUSES:
                state = "已不计时"
            else:
                state = WARNING_LABELS[status.level] if status.level else "计时中"
            running = status.running and ticket.status in CLOCK_STATUSES
            rows.append(
                {
                    "clock": status.clock,
                    "label": f"{label}时限",
                    "limit": status.limit.label(),
                    "deadline": when(status.deadline),
                    "state": state,
                    "level": status.level if running else None,
                    "provisional": status.provisional,
                }
            )
        return rows

    def warning_badge(ticket: Ticket, now: datetime) -> str | None:
        """The most pressing level of the clocks still running (``None``: none)."""
        levels = [row["level"] for row in clock_rows(ticket, now) if row["level"]]
        return max(levels, key=("yellow", "red", "overdue").index) if levels else None

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
        statuses: tuple[str, ...] | None = None
        if status == "open":
            statuses = tuple(s for s in STATUSES if s in OPEN_STATUSES)
        elif status in STATUSES:
            statuses = (status,)
        else:
            status = ""
        if category not in taxonomy.report_ids:
            category = ""
        known_departments = departments()
        if department not in known_departments:
            department = ""
        where = TicketFilter(
            statuses=statuses,
            category=category or None,
            department=department or None,
            urgent=_flag(urgent),
            overdue=_flag(overdue),
            search=q or None,
        )
        total = await tickets.queries.count_tickets(where)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        number = min(page, pages)
        found = await tickets.queries.list_tickets(
            where, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
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
                "warning": warning_badge(t, now),
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
            warning_labels=WARNING_LABELS,
            # From December, until next year's holidays are loaded (INTAKE_WORKDAY_CALENDAR_FILE).
            calendar_missing=now.astimezone(tz()).month == 12
            and not tickets.core.clocks.covers_next_year(now),
            next_year=now.astimezone(tz()).year + 1,
        )

    # -- one ticket -------------------------------------------------------------------------

    def detail_context(ticket: Ticket, revealed: bool) -> dict[str, Any]:
        text = (lambda value: value or "") if revealed else mask_text
        now = service().now()
        delivery = ticket.delivery
        return {
            "ticket": ticket,
            "revealed": revealed,
            "category": category_label(ticket.category),
            "channel": CHANNEL_LABELS.get(ticket.channel, ticket.channel),
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
            "next_statuses": [(s, status_label(s)) for s in staff_status_choices(ticket.status)],
            "status_locked": status_locked_text(ticket.status),
            "can_assign": assignment_refusal(ticket.status) is None,
            "can_return": return_refusal(ticket.status) is None,
            "can_review": ticket.status == "returned",
            "review_decisions": list(REVIEW_LABELS.items()),
            "categories": [(i, category_label(i)) for i in service().core.taxonomy.report_ids],
            "can_supervise": ticket.supervision == "pending",
            "solved": {True: "已解决", False: "未解决"}.get(ticket.solved, "")
            if ticket.solved is not None
            else "",
            "supervision": _SUPERVISION_LABELS.get(ticket.supervision or "", ""),
            "follow_up": _FOLLOW_UP_LABELS.get(ticket.follow_up or "", ""),
            "follow_up_at": when(ticket.follow_up_at),
            "repeat_of": ticket.repeat_of or "",
            "clocks": clock_rows(ticket, now),
            "overdue_count": ticket.overdue_count,
            "warnings": [
                {
                    "at": when(w.created_at),
                    "level": w.level,
                    "level_label": WARNING_LABELS.get(w.level, w.level),
                    "text": w.text,
                    "webhook": _WEBHOOK_LABELS.get(w.webhook_status, w.webhook_status),
                    "error": w.webhook_error or "",
                }
                for w in reversed(ticket.warnings)
            ],
            "can_escalate": escalation_refusal(ticket.status, ticket.level) is None,
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
        ticket = await service().queries.find(ticket_id)
        if ticket is None:
            return console.render(
                request, "error.html", 404, message="没有找到这张工单，请核对工单号。"
            )
        await console.audit(
            request, session, "ticket.reveal" if revealed else "ticket.view", f"ticket:{ticket.id}"
        )
        pushes = push_fate_rows(
            await service().pushes.of_ticket(ticket.id),
            when=when,
            ticket_openid=ticket.openid,
            revealed=revealed,
        )
        return console.render(
            request,
            "ticket_detail.html",
            status_code,
            error=error,
            flash=flash,
            form=form or {},
            pushes=pushes,
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
        known = ACTIONS.get(done)
        return await show(request, session, ticket_id, flash=known.done if known else "")

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
        ticket = await service().queries.find(ticket_id)
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

    @router.post("/console/tickets/{ticket_id}/{name}")
    async def ticket_action(
        request: Request, session: StaffSession, ticket_id: TicketId, name: str
    ) -> Response:
        """Every action of :data:`ACTIONS`: the form checked, the service called, the
        outcome audited — or the page again with why not."""
        action = ACTIONS.get(name)
        if action is None:
            return console.render(request, "error.html", 404, message="没有这个操作。")
        posted = await request.form()
        form = {f: str(posted.get(f) or "").strip() for f in action.fields}
        shown = {action.fields[f]: value for f, value in form.items()}
        before = await service().queries.find(ticket_id)
        if before is None:
            return await show(request, session, ticket_id)

        async def refuse(status_code: int, error: str) -> Response:
            return await show(
                request, session, ticket_id, status_code=status_code, form=shown, error=error
            )

        choices = {
            "department": departments(before.department),
            "grid": grids(before.grid),
            "category": list(service().core.taxonomy.report_ids),
        }
        problem = _form_problem(action, form, choices)
        if problem is not None:
            return await refuse(422, problem)
        try:
            ticket = await action.run(service(), ticket_id, form, f"staff:{session.username}")
        except TicketNotFound:
            return await show(request, session, ticket_id)
        except IllegalTransition as exc:  # the rules say no (perhaps someone changed it)
            return await refuse(409, exc.text or "")
        except InvalidTicket as exc:
            return await refuse(422, exc.text or action.invalid)
        await console.audit(
            request, session, action.audit, f"ticket:{ticket.id}",
            detail=action.detail(before, ticket, form),
        )
        return redirect_done(ticket.id, name)

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
