"""Exactly one answer per WeChat message, across retries, processes and the 5-second window.

WeChat retries an unanswered message up to three times. Each message (its dedup key) gets a
ledger in the shared store: ``seen`` (the first arrival claims processing), ``result`` (the
reply, once ready) and ``via`` (how it was delivered: ``passive`` in the HTTP response, or
``push`` through the customer-service API when it was late). A passive reply may be repeated
to a retry (WeChat shows one passive reply per message), but a reply is never both pushed
and passively answered, so the resident never sees it twice.

The stored reply never holds an ID or bank-card number (:func:`privacy.redact`). A phone
number a reply shows is either masked by the bot (``138****5678`` in a confirmation) or an
office's number from an FAQ answer, which a retry must repeat as it was.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from bot.replies import Reply
from integrations.state import Claim, KeyValueStore
from privacy import redact

__all__ = ["TAKEN_OVER", "DeliveryContext", "DeliveryLedger"]

PASSIVE = "passive"
PUSH = "push"
#: returned by :meth:`DeliveryLedger.wait_result` when the waiter took the message over
TAKEN_OVER = Reply("")


@dataclass(slots=True)
class DeliveryContext:
    """What the callback and the dedup middleware tell each other about one request."""

    deadline: float  # monotonic time by which the passive answer must be sent
    key: str | None = None
    duplicate: bool = False
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class DeliveryLedger:
    """Per-message records in the key-value store, with TTLs."""

    def __init__(
        self, store: KeyValueStore, *, processing_ttl: float = 10, result_ttl: float = 3600
    ) -> None:
        self._store = store
        #: the claim's lease: renewed by a live processor (:meth:`renew`), so the claim of
        #: a process that died lapses within this many seconds and a retry takes over
        self.processing_ttl = processing_ttl
        self._result_ttl = result_ttl

    @staticmethod
    def _seen(key: str) -> str:
        return f"dedup:{key}:seen"

    async def claim(self, key: str) -> bool:
        """True for the first arrival of a message: it processes it; retries get False."""
        return await self._store.set(
            self._seen(key), b"1", ttl=self.processing_ttl, only_if_absent=True
        )

    def lock_claim(self, key: str) -> Claim:
        """The claim of :meth:`claim`, for a lock of the store to make before it queues
        (:class:`~integrations.state.Claim`: where a round trip costs, in the lock's first):
        ``taken`` is what :meth:`claim` would have answered, a refusal raises
        :class:`~integrations.state.ClaimRefused` from the lock's acquisition."""
        return Claim(self._seen(key), self.processing_ttl)

    async def renew(self, key: str) -> None:
        """Keep the claim while processing goes on."""
        await self._store.set(self._seen(key), b"1", ttl=self.processing_ttl)

    async def save_result(self, key: str, reply: Reply | None) -> None:
        text = redact(reply.text, keep_phones=True) if reply else None
        payload = json.dumps({"text": text}, ensure_ascii=False)
        await self._store.set(f"dedup:{key}:result", payload.encode(), ttl=self._result_ttl)

    async def get_result(self, key: str) -> tuple[bool, Reply | None]:
        """``(ready, reply)``; ``reply`` is ``None`` when the handler had nothing to say."""
        raw = await self._store.get(f"dedup:{key}:result")
        if raw is None:
            return False, None
        text = json.loads(raw)["text"]
        return True, (Reply(text) if text else None)

    async def wait_result(
        self, key: str, timeout: float, *, poll: float = 0.02, take_over: float | None = None
    ) -> tuple[bool, Reply | None]:
        """Poll for the first arrival's result for up to ``timeout`` seconds.

        With ``take_over`` (seconds between tries), a claim that lapsed without a result
        (its process died) is claimed by this waiter: it returns ``(False, TAKEN_OVER)``
        and the caller processes the message itself.
        """
        end = time.monotonic() + timeout
        next_try = time.monotonic() + (take_over or 0.0)
        while True:
            ready, reply = await self.get_result(key)
            if ready or time.monotonic() >= end:
                return ready, reply
            if take_over is not None and time.monotonic() >= next_try:
                if await self.claim(key):
                    ready, reply = await self.get_result(key)  # finished just now?
                    return (True, reply) if ready else (False, TAKEN_OVER)
                next_try = time.monotonic() + take_over
            await asyncio.sleep(min(poll, max(0.0, end - time.monotonic())))

    async def claim_delivery(self, key: str | None, via: str) -> bool:
        """Whether the reply may be delivered ``via`` this channel.

        The first channel to claim wins; a passive claim also allows later passive answers
        (retries whose earlier HTTP answer was lost), never a push after a passive answer.
        """
        if key is None:
            return True
        name = f"dedup:{key}:via"
        if await self._store.set(name, via.encode(), ttl=self._result_ttl, only_if_absent=True):
            return True
        return via == PASSIVE and await self._store.get(name) == PASSIVE.encode()
