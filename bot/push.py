"""Pushing text to a resident outside the passive reply, through the customer-service API."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

__all__ = ["CustomerServicePusher"]


class _SendsText(Protocol):
    async def send_text(self, openid: str, content: str) -> None: ...


class CustomerServicePusher:
    """Adapts the WeChat API client to the channel's :class:`~bot.channel.Pusher`, uncounted:
    for a runtime without the ticket database (the runtime's own pusher is
    :class:`~integrations.notify.customer_service.QuotaPusher`)."""

    def __init__(self, client: _SendsText) -> None:
        self.client = client

    async def push_text(
        self, openid: str, text: str, *, resident_wrote_at: datetime | None = None
    ) -> None:
        await self.client.send_text(openid, text)
