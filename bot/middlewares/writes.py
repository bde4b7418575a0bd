"""A message's writes to the shared store, sent together when it has been handled."""

from __future__ import annotations

from typing import Any

from bot.dispatcher import NextHandler
from bot.wechat.messages import IncomingMessage
from integrations.state import KeyValueStore

__all__ = ["DeferredWritesMiddleware"]


class DeferredWritesMiddleware:
    """Outside the dedup ledger and the resident lock: the turn's plain writes (dialogue
    state, chat, the reply kept for retries) and the lock's release reach Redis in one
    round trip at the end, instead of one each (:meth:`KeyValueStore.deferred_writes`).

    Writes whose answer matters (the ledger's first-arrival claim) still go at once.
    """

    def __init__(self, store: KeyValueStore) -> None:
        self.store = store

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        async with self.store.deferred_writes():
            return await handler(event, data)
