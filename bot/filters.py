"""Filters: plain callables over the message and the update's data.

A filter returns a truthy value to pass; a ``dict`` passes and hands its items to the
handler as keyword arguments. The one the routers need by name is :class:`EventFilter`;
anything else is a lambda where it is used.
"""

from __future__ import annotations

from bot.wechat.messages import EventMessage, IncomingMessage

__all__ = ["EventFilter"]


class EventFilter:
    """Passes for events named ``event`` (case-insensitive), optionally with one of ``keys``."""

    def __init__(self, event: str, *keys: str) -> None:
        self.event = event.lower()
        self.keys = frozenset(keys)

    def __call__(self, message: IncomingMessage) -> bool:
        if not isinstance(message, EventMessage) or message.event != self.event:
            return False
        return not self.keys or message.event_key in self.keys
