"""A failing handler gets the resident a polite apology, never a WeChat error page."""

from __future__ import annotations

import logging
from typing import Any

from bot.dispatcher import NextHandler
from bot.replies import Reply
from bot.wechat.messages import IncomingMessage
from policies.messages import ERROR_REPLY

__all__ = ["ERROR_REPLY", "ErrorGuardMiddleware"]

log = logging.getLogger(__name__)



class ErrorGuardMiddleware:
    """Logs the exception (the logging filter masks personal data) and apologises."""

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        try:
            return await handler(event, data)
        except Exception:
            # Deliberately broad: whatever a handler raises, WeChat must get an answer within
            # its 5 s (an apology, not an error page). The fault is logged with its traceback.
            log.exception("handler failed for a %s message", event.kind)
            return Reply(ERROR_REPLY)
