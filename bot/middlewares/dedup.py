"""Process each WeChat message once; a retry gets the first arrival's answer."""

from __future__ import annotations

from typing import Any

from bot.delivery import TAKEN_OVER, DeliveryContext, DeliveryLedger
from bot.dispatcher import UNHANDLED, NextHandler
from bot.middlewares.lock import LOCK_CLAIM
from bot.replies import Reply, as_reply
from bot.wechat.messages import IncomingMessage
from integrations.state import Claim, ClaimRefused
from integrations.state.lease import renewing

__all__ = ["DedupMiddleware"]

#: How often a waiting retry checks whether the first arrival's claim lapsed.
TAKE_OVER_POLL = 0.5


class DedupMiddleware:
    """The first arrival of a message runs the handlers and records the reply; a retry (same
    MsgId, or same sender and CreateTime for events) waits for that reply instead.

    With ``claim_in_lock`` (the :class:`~bot.middlewares.ResidentLockMiddleware` runs next),
    the first-arrival claim is made by the resident lock before it queues, in its first
    round trip (``data[LOCK_CLAIM]``); a retry's refused claim comes back as
    :class:`ClaimRefused` before the retry queued behind the lock.
    """

    def __init__(self, ledger: DeliveryLedger, *, claim_in_lock: bool = False) -> None:
        self.ledger = ledger
        self.claim_in_lock = claim_in_lock

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        delivery: DeliveryContext | None = data.get("delivery")
        key = event.dedup_key
        if delivery is not None:
            delivery.key = key
        if self.claim_in_lock:
            claim = self.ledger.lock_claim(key)
            data[LOCK_CLAIM] = claim
            try:
                return await self._process(handler, event, data, key, claim)
            except ClaimRefused:
                data.pop(LOCK_CLAIM, None)
        elif await self.ledger.claim(key):
            return await self._process(handler, event, data, key, None)
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
        # past the deadline, pushes the answer like a first arrival would). wait_result
        # made the claim: none for the lock to make.
        if delivery is not None:
            delivery.duplicate = False
        return await self._process(handler, event, data, key, None)

    async def _process(
        self,
        handler: NextHandler,
        event: IncomingMessage,
        data: dict[str, Any],
        key: str,
        claim: Claim | None,
    ) -> Reply | None:
        """Run the handlers as the message's processor; ``claim``: one the lock makes (the
        lease is renewed once it is taken), ``None`` when the claim is held already."""
        ledger = self.ledger

        async def renew() -> None:
            if claim is None or claim.taken:
                await ledger.renew(key)

        async with renewing(renew, ledger.processing_ttl / 3):
            result = await handler(event, data)
        if claim is not None and not claim.taken:
            # Wiring error (no resident lock after this middleware): fail loudly rather
            # than record a reply for a message nobody claimed.
            raise RuntimeError("claim_in_lock: the resident lock never made the dedup claim")
        reply = None if result is UNHANDLED else as_reply(result)
        await ledger.save_result(key, reply)
        return reply
