"""Outer middlewares of the WeChat pipeline, outermost first:
logging → dedup → per-resident lock → FSM context → error guard."""

from bot.middlewares.dedup import DedupMiddleware
from bot.middlewares.errors import ErrorGuardMiddleware
from bot.middlewares.fsm import FSMContextMiddleware
from bot.middlewares.lock import ResidentLockMiddleware
from bot.middlewares.logging import LoggingMiddleware

__all__ = [
    "DedupMiddleware",
    "ErrorGuardMiddleware",
    "FSMContextMiddleware",
    "LoggingMiddleware",
    "ResidentLockMiddleware",
]
