"""The staff queue API: escalated chats, their transcripts, staff replies, closing.

Staff replies reach the resident through the customer-service message API; when WeChat
refuses (the resident's 48-hour window is closed) the answer is 409 with the reason, and
the reply is still recorded in the transcript.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.api.auth import require_bearer_token
from bot.api.bounds import Limit, RowId
from bot.channel import Pusher
from integrations.errors import IntakeError
from integrations.handoffs import HandoffNotFound, HandoffService
from integrations.wechat import CustomerServiceWindowClosed

__all__ = ["create_handoffs_router"]

log = logging.getLogger(__name__)


class StaffMessage(BaseModel):
    """A staff reply to the resident."""

    text: str = Field(min_length=1, max_length=2000)


def create_handoffs_router(
    *, handoffs: HandoffService, pusher: Pusher, admin_token: str
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
            handoff = await handoffs.staff_message(handoff_id, message.text)
        except HandoffNotFound as exc:
            return not_found(exc)
        try:
            await pusher.push_text(handoff.openid, message.text)
        except CustomerServiceWindowClosed as exc:
            return JSONResponse(
                {
                    "error": "WeChat refused: the resident's 48-hour window is closed",
                    "detail": str(exc),
                },
                status_code=409,
            )
        except IntakeError as exc:
            log.warning("staff reply not delivered: %s", exc)
            return JSONResponse(
                {"error": "WeChat did not take the message; try again", "detail": str(exc)},
                status_code=502,
            )
        return handoff.as_dict(transcript=True)

    @router.post("/{handoff_id}/close", response_model=None)
    async def close_handoff(handoff_id: RowId) -> dict[str, Any] | JSONResponse:
        try:
            return (await handoffs.close(handoff_id)).as_dict(transcript=True)
        except HandoffNotFound as exc:
            return not_found(exc)

    return router
