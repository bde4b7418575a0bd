"""One log line per update: kind, masked resident, masked words, outcome and duration."""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.dispatcher import NextHandler
from bot.wechat.messages import IncomingMessage
from privacy import mask_openid, mask_text

__all__ = ["LoggingMiddleware"]

log = logging.getLogger("intake.updates")


class LoggingMiddleware:
    """Personal data never reaches the log: openids, phones, ID numbers, addresses masked."""

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "reply" if result else "silent"
            return result
        finally:
            if log.isEnabledFor(logging.INFO):
                text = event.text
                log.info(
                    "%s from %s%s → %s in %.1f ms",
                    event.kind,
                    mask_openid(event.openid),
                    f" {mask_text(text)!r}" if text else "",
                    outcome,
                    (time.perf_counter() - started) * 1000,
                )
