"""Pushing text to a resident outside the passive reply, through the customer-service API."""

from __future__ import annotations

from typing import Protocol

__all__ = ["CustomerServicePusher"]


class _SendsText(Protocol):
    async def send_text(self, openid: str, content: str) -> None: ...


class CustomerServicePusher:
    """Adapts the WeChat API client to the channel's :class:`~bot.channel.Pusher`."""

    def __init__(self, client: _SendsText) -> None:
        self.client = client

    async def push_text(self, openid: str, text: str) -> None:
        await self.client.send_text(openid, text)
