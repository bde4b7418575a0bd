"""Process each WeChat message once; a retry gets the first arrival's answer."""

from __future__ import annotations

from typing import Any

from bot.delivery import TAKEN_OVER, DeliveryContext, DeliveryLedger
from bot.dispatcher import UNHANDLED, NextHandler
from bot.replies import as_reply
from bot.wechat.messages import IncomingMessage
from integrations.state.lease import renewing

__all__ = ["DedupMiddleware"]

#: How often a waiting retry checks whether the first arrival's claim lapsed.
TAKE_OVER_POLL = 0.5


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
        if not await self.ledger.claim(key):
            if delivery is not None:
                delivery.duplicate = True
            # Beyond this request's deadline too: long enough for the claim of a first
            # arrival whose process died to lapse, so this retry can answer instead.
            timeout = (delivery.remaining() if delivery is not None else 0.0) + (
                self.ledger.processing_ttl + 2.0
            )
            _, reply = await self.ledger.wait_result(key, timeout, take_over=TAKE_OVER_POLL)
            if reply is not TAKEN_OVER:
                return reply
            # The first arrival's process died before answering: this retry answers (and,
            # past the deadline, pushes the answer like a first arrival would).
            if delivery is not None:
                delivery.duplicate = False
        ledger = self.ledger
        async with renewing(lambda: ledger.renew(key), ledger.processing_ttl / 3):
            result = await handler(event, data)
        reply = None if result is UNHANDLED else as_reply(result)
        await self.ledger.save_result(key, reply)
        return reply
