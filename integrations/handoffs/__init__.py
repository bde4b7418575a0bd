"""The staff queue of escalated chats (转人工): handoffs and their transcripts."""

from integrations.handoffs.service import Handoff, HandoffMessage, HandoffNotFound, HandoffService

__all__ = ["Handoff", "HandoffMessage", "HandoffNotFound", "HandoffService"]
