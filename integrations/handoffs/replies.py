"""Staff replies to a resident in a handoff, and handing the resident back to the bot: one
implementation for the console's inbox and the staff API.

A reply is recorded first (the transcript keeps what staff wrote, whatever happens next),
then sent as a customer-service text through the resident's quota (the pusher is
:class:`~integrations.notify.customer_service.QuotaPusher`); one that does not reach the
resident stays in the transcript marked undelivered. A closed chat takes no reply. The
reply answers the resident's last message in the chat: the quota counts from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from core.errors import IntakeError
from integrations.handoffs.service import (
    Handoff,
    HandoffClosed,
    HandoffMessage,
    HandoffService,
)
from integrations.notify.customer_service import CustomerServiceRefused
from integrations.wechat import CustomerServiceWindowClosed
from policies.messages import HANDOFF_CLOSED

__all__ = ["MAX_REPLY", "CloseOutcome", "ReplyCode", "ReplyOutcome", "StaffReplies"]

log = logging.getLogger(__name__)

#: the longest reply staff may send at once
MAX_REPLY = 2000

#: What became of a reply: ``sent``; refused before anything was recorded (``empty``,
#: ``too-long``, ``already-closed``); or recorded but not delivered (``window-closed``: the
#: resident's 48-hour window, ``over-quota``: the window's customer-service quota,
#: ``send-failed``: WeChat did not take it).
ReplyCode = Literal[
    "sent", "empty", "too-long", "already-closed", "window-closed", "over-quota", "send-failed"
]


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What became of a staff reply; ``line`` is the transcript line (when recorded),
    ``took``: the reply made the staff member the chat's assignee."""

    code: ReplyCode
    line: HandoffMessage | None = None
    handoff: Handoff | None = None
    took: bool = False
    #: why it was not delivered, in the words of the refusal (for logs and the API)
    detail: str | None = None

    @property
    def sent(self) -> bool:
        return self.code == "sent"


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """The closed chat, and whether the resident was told (``closed``) or not
    (``closed-unnotified``), or it was closed before (``already-closed``)."""

    code: Literal["closed", "closed-unnotified", "already-closed"]
    handoff: Handoff


class TextPusher(Protocol):
    """Sends a customer-service text (raising :class:`IntakeError` when it does not)."""

    async def push_text(
        self, openid: str, text: str, *, resident_wrote_at: datetime | None = None
    ) -> None: ...


class StaffReplies:
    """Staff answering residents in the handoff queue, and closing their chats."""

    def __init__(self, handoffs: HandoffService, pusher: TextPusher) -> None:
        self.handoffs = handoffs
        self.pusher = pusher

    async def reply(self, handoff_id: int, text: str, *, staff: str | None = None) -> ReplyOutcome:
        """Record ``text`` as ``staff``'s reply and send it. Raises :class:`HandoffNotFound`."""
        text = text.strip()
        if not text:
            return ReplyOutcome("empty")
        if len(text) > MAX_REPLY:
            return ReplyOutcome("too-long")
        try:
            handoff, line, took = await self.handoffs.staff_reply(handoff_id, text, staff=staff)
        except HandoffClosed:
            return ReplyOutcome("already-closed")
        wrote_at = await self.handoffs.resident_wrote_at(handoff_id)
        code = await self._send(handoff.openid, text, wrote_at)
        if code[0] == "sent":
            return ReplyOutcome("sent", line, handoff, took)
        await self.handoffs.mark_undelivered(line.id)
        undelivered = HandoffMessage(line.at, line.role, line.text, id=line.id, delivered=False)
        return ReplyOutcome(code[0], undelivered, handoff, took, detail=code[1])

    async def close(self, handoff_id: int) -> CloseOutcome:
        """Hand the resident back to the bot and tell them (the notice is a text like any
        other: when it cannot go out the chat is closed all the same, flagged unnotified).
        Raises :class:`HandoffNotFound`."""
        before = await self.handoffs.get(handoff_id)
        if not before.is_open:
            return CloseOutcome("already-closed", before)
        # Closed first: whatever the resident writes from now on goes to the bot again.
        await self.handoffs.close(handoff_id)
        notice = await self.handoffs.add_line(handoff_id, "bot", HANDOFF_CLOSED)
        code, _ = await self._send(before.openid, HANDOFF_CLOSED, None)
        if code != "sent":
            await self.handoffs.mark_undelivered(notice.id)
        closed = await self.handoffs.get(handoff_id)
        return CloseOutcome("closed" if code == "sent" else "closed-unnotified", closed)

    async def _send(
        self, openid: str, text: str, wrote_at: datetime | None
    ) -> tuple[ReplyCode, str | None]:
        try:
            await self.pusher.push_text(openid, text, resident_wrote_at=wrote_at)
        except CustomerServiceRefused as exc:
            code: ReplyCode = "over-quota" if exc.why == "over_quota" else "window-closed"
            return code, str(exc)
        except CustomerServiceWindowClosed as exc:
            log.info("text to a resident refused by WeChat: %s", exc)
            return "window-closed", str(exc)
        except IntakeError as exc:
            log.warning("text to a resident not delivered: %s", exc)
            return "send-failed", str(exc)
        return "sent", None
