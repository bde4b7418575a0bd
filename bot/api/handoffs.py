"""The staff queue API: escalated chats, their transcripts, staff replies, closing.

Replies and closing are :class:`~integrations.handoffs.StaffReplies`, the same as the
console's inbox: a reply to a closed chat is refused (409, nothing recorded); a reply is
recorded, then sent as a customer-service text within the resident's quota; one that does
not arrive (the 48-hour window is closed, the quota is used, WeChat refuses) answers 409
or 502 with a ``code`` and stays in the transcript marked ``"delivered": false``. Closing
tells the resident they are back with the bot (``notified``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.api.auth import require_bearer_token
from bot.api.bounds import Limit, RowId
from integrations.handoffs import (
    MAX_REPLY,
    HandoffNotFound,
    HandoffService,
    ReplyCode,
    StaffReplies,
)

__all__ = ["REPLY_STATUS", "create_handoffs_router"]

#: The HTTP status of each outcome of a staff reply (the console's inbox uses it too).
REPLY_STATUS: Mapping[ReplyCode, int] = {
    "sent": 200,
    "empty": 400,
    "too-long": 400,
    "already-closed": 409,
    "window-closed": 409,
    "over-quota": 409,
    "send-failed": 502,
}
_REPLY_ERRORS: Mapping[ReplyCode, str] = {
    "empty": "the reply is empty",
    "too-long": f"the reply is longer than {MAX_REPLY} characters",
    "already-closed": "the handoff is closed: the resident is back with the bot",
    "window-closed": "WeChat refused: the resident's 48-hour window is closed",
    "over-quota": (
        "not sent: the customer-service quota of the resident's window is used up; "
        "reply after the resident writes again"
    ),
    "send-failed": "WeChat did not take the message; try again",
}


class StaffMessage(BaseModel):
    """A staff reply to the resident."""

    text: str = Field(min_length=1, max_length=MAX_REPLY)
    staff: str | None = Field(None, max_length=64, description="who answers")


def create_handoffs_router(
    *, handoffs: HandoffService, replies: StaffReplies, admin_token: str
) -> APIRouter:
    router = APIRouter(
        prefix="/api/handoffs",
        tags=["handoffs"],
        dependencies=[Depends(require_bearer_token(admin_token))],
    )

    def not_found(exc: HandoffNotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @router.get("")
    async def list_handoffs(
        status: Literal["waiting", "active", "closed"] | None = None,
        openid: Annotated[str | None, Query(max_length=64)] = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        items = await handoffs.list(status=status, openid=openid, limit=limit)
        return {"items": [h.as_dict() for h in items]}

    @router.get("/{handoff_id}", response_model=None)
    async def get_handoff(handoff_id: RowId) -> dict[str, Any] | JSONResponse:
        try:
            return (await handoffs.get(handoff_id)).as_dict(transcript=True)
        except HandoffNotFound as exc:
            return not_found(exc)

    @router.post("/{handoff_id}/messages", response_model=None)
    async def send_message(
        handoff_id: RowId, message: StaffMessage
    ) -> dict[str, Any] | JSONResponse:
        try:
            outcome = await replies.reply(handoff_id, message.text, staff=message.staff)
            handoff = await handoffs.get(handoff_id)
        except HandoffNotFound as exc:
            return not_found(exc)
        if outcome.sent:
            return handoff.as_dict(transcript=True)
        body: dict[str, Any] = {"error": _REPLY_ERRORS[outcome.code], "code": outcome.code}
        if outcome.detail:
            body["detail"] = outcome.detail
        if outcome.line is not None:
            body["message"] = outcome.line.as_dict()
        return JSONResponse(body, status_code=REPLY_STATUS[outcome.code])

    @router.post("/{handoff_id}/close", response_model=None)
    async def close_handoff(handoff_id: RowId) -> dict[str, Any] | JSONResponse:
        try:
            closed = await replies.close(handoff_id)
        except HandoffNotFound as exc:
            return not_found(exc)
        return {**closed.handoff.as_dict(transcript=True), "notified": closed.code == "closed"}

    return router
