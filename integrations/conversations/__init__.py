"""What residents and the bot said recently, per resident (the short-term chat memory)."""

from integrations.conversations.chatlog import ChatLog

__all__ = ["ChatLog"]
