"""A failing handler gets the resident a polite apology, never a WeChat error page."""

from __future__ import annotations

import logging
from typing import Any

from bot.dispatcher import NextHandler
from bot.replies import Reply
from bot.wechat.messages import IncomingMessage

__all__ = ["ERROR_REPLY", "ErrorGuardMiddleware"]

log = logging.getLogger(__name__)

ERROR_REPLY = "抱歉，系统刚才出了点小问题，请稍后再发一次；着急的话也可以拨打12345热线。"


class ErrorGuardMiddleware:
    """Logs the exception (the logging filter masks personal data) and apologises."""

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        try:
            return await handler(event, data)
        except Exception:
            log.exception("handler failed for a %s message", event.kind)
            return Reply(ERROR_REPLY)
