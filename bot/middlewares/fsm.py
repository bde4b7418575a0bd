"""Hands each update its resident's :class:`FSMContext` as ``state``."""

from __future__ import annotations

from typing import Any

from bot.dispatcher import NextHandler
from bot.fsm import FSMContext, FSMStorage
from bot.wechat.messages import IncomingMessage

__all__ = ["FSMContextMiddleware"]


class FSMContextMiddleware:
    """Runs inside the resident lock, so the state it loads cannot be stale."""

    def __init__(self, storage: FSMStorage) -> None:
        self.storage = storage

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        data["state"] = FSMContext(self.storage, event.openid)
        data["fsm_storage"] = self.storage
        return await handler(event, data)
