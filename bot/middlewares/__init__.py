"""Outer middlewares of the WeChat pipeline, outermost first:
logging → deferred store writes → dedup → per-resident lock → FSM context → error guard."""

from bot.middlewares.dedup import DedupMiddleware
from bot.middlewares.errors import ErrorGuardMiddleware
from bot.middlewares.fsm import FSMContextMiddleware
from bot.middlewares.lock import ResidentLockMiddleware
from bot.middlewares.logging import LoggingMiddleware
from bot.middlewares.writes import DeferredWritesMiddleware

__all__ = [
    "DedupMiddleware",
    "DeferredWritesMiddleware",
    "ErrorGuardMiddleware",
    "FSMContextMiddleware",
    "LoggingMiddleware",
    "ResidentLockMiddleware",
]
