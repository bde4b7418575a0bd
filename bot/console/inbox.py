"""人工会话: the staff inbox of escalated chats.

Staff see the queue (waiting, theirs, closed), open a chat, take it, answer the resident
through the customer-service message API and hand the resident back to the bot (replies
and closing are :class:`~integrations.handoffs.StaffReplies`, the same as the staff API's:
counted against the resident's customer-service quota, kept and flagged when they do not
arrive). The chat
page polls a JSON endpoint for new lines, so a resident's message shows up without a
reload. Residents are shown by masked openid only; opening a chat and every change are
audited.

The transcript is shown masked (:func:`privacy.mask_text`: house and room numbers, and
any phone, ID or card number, though those are redacted before a line is stored); staff
who need the whole address press 查看完整信息 (``POST /console/inbox/{id}/reveal``, audited
``handoff.reveal``), which shows the lines as stored. Lines arriving afterwards by polling
are masked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from bot.api.bounds import LineAfter, RowId
from bot.api.handoffs import REPLY_STATUS
from bot.console.bidi import neutralise_bidi
from bot.console.context import Console
from bot.console.security import StaffSession
from integrations.accounts import ConsoleSession
from integrations.handoffs import (
    MAX_REPLY,
    OPEN,
    Handoff,
    HandoffClosed,
    HandoffMessage,
    HandoffNotFound,
    HandoffService,
    ReplyCode,
    ReplyOutcome,
    StaffReplies,
)
from privacy import mask_openid, mask_text

__all__ = ["build_inbox_router", "load_canned_replies"]

CANNED_REPLIES_FILE = Path(__file__).parent / "canned_replies.yml"
#: the staff work in Beijing time; the database keeps UTC
LOCAL_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

TABS = (("waiting", "待接手"), ("mine", "我的会话"), ("closed", "已结束"))
STATUS_LABELS = {"waiting": "等待接手", "active": "处理中", "closed": "已结束"}
ROLE_LABELS = {"resident": "居民", "staff": "工作人员", "bot": "机器人"}
REASON_LABELS = {
    "requested": "居民要求转人工",
    "upset": "居民情绪不满",
    "misunderstood": "机器人多次没听懂",
}

WINDOW_CLOSED_ERROR = (
    "没有送达：居民已超过 48 小时没有发消息，微信不允许再主动回复。"
    "请等居民再次留言后回复，或改用电话联系。"
)
SEND_FAILED_ERROR = "发送失败，请重试"
OVER_QUOTA_ERROR = (
    "没有送达：居民上次留言后发给他的消息已达微信客服消息的上限。"
    "请等居民再次留言后回复，或改用电话联系。"
)
REVEALED_NOTICE = "已显示完整的聊天内容，本次查看已记入审计日志。新收到的消息仍按默认隐藏显示。"
#: fixed messages the forms redirect with (``?done=…``): nothing from the URL is echoed
NOTICES = {
    "taken": "已接手这个会话",
    "sent": "回复已发送",
    "closed": "会话已结束，居民已交还机器人，并已发送结束提醒",
    "closed-unnotified": "会话已结束，居民已交还机器人；但结束提醒没有送达（微信拒绝了发送）",
    "already-closed": "这个会话已经结束了",
    "empty": "请先输入回复内容",
    "too-long": f"回复太长了，请分几次发送（每次最多 {MAX_REPLY} 字）",
    "window-closed": WINDOW_CLOSED_ERROR,
    "over-quota": OVER_QUOTA_ERROR,
    "send-failed": SEND_FAILED_ERROR,
}
#: what the audit log says of a reply that was recorded
_REPLY_AUDIT: dict[ReplyCode, str] = {
    "window-closed": "未送达：48 小时窗口已关闭",
    "over-quota": "未送达：客服消息已达上限",
    "send-failed": "未送达：发送失败",
}


@dataclass(frozen=True, slots=True)
class CannedReply:
    """A ready-made reply staff can insert into the box and edit."""

    label: str
    text: str


def load_canned_replies(path: Path = CANNED_REPLIES_FILE) -> tuple[CannedReply, ...]:
    """The canned replies of ``canned_replies.yml`` (none when the file is missing)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except FileNotFoundError:
        return ()
    return tuple(
        CannedReply(str(item["label"]), str(item["text"]))
        for item in data
        if isinstance(item, dict) and item.get("label") and item.get("text")
    )


def local_time(value: datetime, fmt: str = "%m-%d %H:%M") -> str:
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def line_view(line: HandoffMessage, *, revealed: bool = False) -> dict[str, Any]:
    """A transcript line as the page and the JSON endpoint show it: masked unless
    ``revealed`` (an audited reveal)."""
    text = line.text if revealed else mask_text(line.text)
    return {
        "id": line.id,
        "role": line.role if line.role in ROLE_LABELS else "bot",
        "role_label": ROLE_LABELS.get(line.role, line.role),
        "time": local_time(line.at, "%m-%d %H:%M:%S"),
        # the page inserts it with textContent; bidi controls are neutralised as on pages
        "text": neutralise_bidi(text),
        "delivered": line.delivered,
    }


def chat_view(handoff: Handoff) -> dict[str, Any]:
    """A handoff as the staff see it: the resident masked, labels in Chinese."""
    return {
        "id": handoff.id,
        "resident": mask_openid(handoff.openid),
        "status": handoff.status,
        "status_label": STATUS_LABELS.get(handoff.status, handoff.status),
        "reason_label": REASON_LABELS.get(handoff.reason, handoff.reason),
        "assignee": handoff.assignee,
        "created": local_time(handoff.created_at),
        "updated": local_time(handoff.updated_at),
        "is_open": handoff.is_open,
    }


def _preview(line: HandoffMessage | None, limit: int = 40) -> str:
    if line is None:
        return ""
    text = " ".join(mask_text(line.text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ReplyBody(BaseModel):
    """A staff reply from the chat page."""

    text: str = ""


def build_inbox_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    canned = load_canned_replies()

    def service() -> HandoffService:
        handoffs = console.runtime.handoff_service
        if handoffs is None:  # a runtime built without storage (some unit tests)
            raise HandoffNotFound("handoffs are not enabled")
        return handoffs

    def replies() -> StaffReplies:
        staff_replies = console.runtime.staff_replies
        if staff_replies is None:
            raise HandoffNotFound("handoffs are not enabled")
        return staff_replies

    def not_found_page(request: Request) -> HTMLResponse:
        return console.render(request, "error.html", 404, message="没有找到这个会话")

    def back_to_chat(handoff_id: int, code: str) -> RedirectResponse:
        return RedirectResponse(f"/console/inbox/{handoff_id}?done={code}", status_code=303)

    async def reply(
        request: Request, session: ConsoleSession, handoff_id: int, text: str
    ) -> ReplyOutcome:
        """Send a staff reply (:class:`StaffReplies`) and audit what became of it."""
        outcome = await replies().reply(handoff_id, text, staff=session.username)
        target = f"handoff:{handoff_id}"
        if outcome.took:
            await console.audit(request, session, "handoff.take", target, "回复时自动接手")
        if outcome.line is not None:
            detail = _REPLY_AUDIT.get(outcome.code, f"已送达，{len(outcome.line.text)} 字")
            await console.audit(request, session, "handoff.reply", target, detail)
        return outcome

    @router.get("/console/inbox", response_class=HTMLResponse)
    async def inbox(request: Request, session: StaffSession, tab: str = "waiting") -> Response:
        if tab not in dict(TABS):
            tab = "waiting"
        handoffs = service()
        if tab == "mine":
            items = await handoffs.list(status=OPEN, assignee=session.username, limit=200)
        else:
            items = await handoffs.list(status=tab, limit=200)
        previews = await handoffs.last_messages(h.id for h in items)
        everyone = await handoffs.count_by_status()
        mine = await handoffs.count_by_status(assignee=session.username)
        counts = {
            "waiting": everyone.get("waiting", 0),
            "mine": sum(mine.get(status, 0) for status in OPEN),
            "closed": everyone.get("closed", 0),
        }
        rows = [{**chat_view(h), "preview": _preview(previews.get(h.id))} for h in items]
        return console.render(request, "inbox.html", tab=tab, tabs=TABS, counts=counts, rows=rows)

    async def show_chat(
        request: Request,
        session: ConsoleSession,
        handoff_id: int,
        *,
        revealed: bool = False,
        flash: str | None = None,
    ) -> Response:
        try:
            handoff = await service().get(handoff_id)
        except HandoffNotFound:
            return not_found_page(request)
        action = "handoff.reveal" if revealed else "handoff.view"
        await console.audit(request, session, action, f"handoff:{handoff_id}")
        return console.render(
            request,
            "inbox_chat.html",
            chat=chat_view(handoff),
            lines=[line_view(line, revealed=revealed) for line in handoff.transcript],
            last_id=max((line.id for line in handoff.transcript), default=0),
            mine=handoff.assignee == session.username,
            canned=canned,
            max_reply=MAX_REPLY,
            flash=flash,
            revealed=revealed,
        )

    @router.get("/console/inbox/{handoff_id}", response_class=HTMLResponse)
    async def chat_page(
        request: Request, session: StaffSession, handoff_id: RowId, done: str = ""
    ) -> Response:
        return await show_chat(request, session, handoff_id, flash=NOTICES.get(done))

    @router.post("/console/inbox/{handoff_id}/reveal", response_class=HTMLResponse)
    async def chat_reveal(request: Request, session: StaffSession, handoff_id: RowId) -> Response:
        return await show_chat(
            request, session, handoff_id, revealed=True, flash=REVEALED_NOTICE
        )

    @router.post("/console/inbox/{handoff_id}/take")
    async def take(request: Request, session: StaffSession, handoff_id: RowId) -> Response:
        try:
            before = await service().get(handoff_id)
            await service().take(handoff_id, session.username)
        except HandoffNotFound:
            return not_found_page(request)
        except HandoffClosed:
            return back_to_chat(handoff_id, "already-closed")
        detail = (
            f"从 {before.assignee} 转来"
            if before.assignee not in (None, session.username)
            else None
        )
        await console.audit(request, session, "handoff.take", f"handoff:{handoff_id}", detail)
        return back_to_chat(handoff_id, "taken")

    @router.post("/console/inbox/{handoff_id}/close")
    async def close(request: Request, session: StaffSession, handoff_id: RowId) -> Response:
        try:
            closed = await replies().close(handoff_id)
        except HandoffNotFound:
            return not_found_page(request)
        if closed.code != "already-closed":
            await console.audit(
                request,
                session,
                "handoff.close",
                f"handoff:{handoff_id}",
                "结束提醒已送达" if closed.code == "closed" else "结束提醒未送达",
            )
        return back_to_chat(handoff_id, closed.code)

    @router.post("/console/inbox/{handoff_id}/reply")
    async def reply_form(
        request: Request,
        session: StaffSession,
        handoff_id: RowId,
        text: Annotated[str, Form(max_length=MAX_REPLY * 2)] = "",
    ) -> Response:
        """Without JavaScript the reply box posts here."""
        try:
            outcome = await reply(request, session, handoff_id, text)
        except HandoffNotFound:
            return not_found_page(request)
        return back_to_chat(handoff_id, outcome.code)

    @router.get("/console/api/handoffs/{handoff_id}/messages")
    async def messages(
        session: StaffSession, handoff_id: RowId, after: LineAfter = 0
    ) -> Response:
        try:
            handoff, lines = await service().messages(handoff_id, after=after)
        except HandoffNotFound:
            return JSONResponse({"error": "没有找到这个会话"}, status_code=404)
        return JSONResponse({**chat_view(handoff), "lines": [line_view(line) for line in lines]})

    @router.post("/console/api/handoffs/{handoff_id}/reply")
    async def reply_json(
        request: Request, session: StaffSession, handoff_id: RowId, body: ReplyBody
    ) -> Response:
        try:
            outcome = await reply(request, session, handoff_id, body.text)
        except HandoffNotFound:
            return JSONResponse({"error": "没有找到这个会话"}, status_code=404)
        data: dict[str, Any] = {"ok": outcome.sent, "code": outcome.code}
        if not outcome.sent:
            data["error"] = NOTICES[outcome.code]
        if outcome.line is not None:
            data["line"] = line_view(outcome.line)
        return JSONResponse(data, status_code=REPLY_STATUS[outcome.code])

    return router

