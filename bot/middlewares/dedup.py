"""Process each WeChat message once; a retry gets the first arrival's answer."""

from __future__ import annotations

from typing import Any

from bot.delivery import DeliveryContext, DeliveryLedger
from bot.dispatcher import UNHANDLED, NextHandler
from bot.replies import as_reply
from bot.wechat.messages import IncomingMessage

__all__ = ["DedupMiddleware"]


class DedupMiddleware:
    """The first arrival of a message runs the handlers and records the reply; a retry (same
    MsgId, or same sender and CreateTime for events) waits for that reply instead."""

    def __init__(self, ledger: DeliveryLedger) -> None:
        self.ledger = ledger

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        delivery: DeliveryContext | None = data.get("delivery")
        key = event.dedup_key
        if delivery is not None:
            delivery.key = key
        if await self.ledger.claim(key):
            result = await handler(event, data)
            reply = None if result is UNHANDLED else as_reply(result)
            await self.ledger.save_result(key, reply)
            return reply
        if delivery is not None:
            delivery.duplicate = True
        timeout = delivery.remaining() if delivery is not None else 0.0
        _, reply = await self.ledger.wait_result(key, timeout)
        return reply
