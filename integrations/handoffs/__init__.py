"""The staff queue of escalated chats (转人工): handoffs, their transcripts, staff replies."""

from integrations.handoffs.replies import (
    MAX_REPLY,
    CloseOutcome,
    ReplyCode,
    ReplyOutcome,
    StaffReplies,
)
from integrations.handoffs.service import (
    OPEN,
    Handoff,
    HandoffClosed,
    HandoffMessage,
    HandoffNotFound,
    HandoffService,
)

__all__ = [
    "MAX_REPLY",
    "OPEN",
    "CloseOutcome",
    "Handoff",
    "HandoffClosed",
    "HandoffMessage",
    "HandoffNotFound",
    "HandoffService",
    "ReplyCode",
    "ReplyOutcome",
    "StaffReplies",
]
