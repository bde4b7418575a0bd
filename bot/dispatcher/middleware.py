"""Middleware protocol: ``await mw(next_handler, event, data)`` wraps the rest of the chain."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.wechat.messages import IncomingMessage

__all__ = ["Middleware", "NextHandler", "wrap_middlewares"]

NextHandler = Callable[[IncomingMessage, dict[str, Any]], Awaitable[Any]]
Middleware = Callable[[NextHandler, IncomingMessage, dict[str, Any]], Awaitable[Any]]


def wrap_middlewares(middlewares: Sequence[Middleware], handler: NextHandler) -> NextHandler:
    """Chain ``middlewares`` around ``handler``; the first one listed runs outermost."""
    wrapped = handler
    for middleware in reversed(middlewares):
        wrapped = functools.partial(middleware, wrapped)
    return wrapped
