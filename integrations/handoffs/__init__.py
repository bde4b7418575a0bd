"""The staff queue of escalated chats (转人工): handoffs and their transcripts."""

from integrations.handoffs.service import (
    OPEN,
    Handoff,
    HandoffClosed,
    HandoffMessage,
    HandoffNotFound,
    HandoffService,
)

__all__ = [
    "OPEN",
    "Handoff",
    "HandoffClosed",
    "HandoffMessage",
    "HandoffNotFound",
    "HandoffService",
]
