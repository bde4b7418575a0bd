"""Background chores of an app process that run every few seconds until shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["run_every"]

log = logging.getLogger(__name__)


async def run_every(
    every: float, stop: asyncio.Event, chore: Callable[[], Awaitable[object]], what: str
) -> None:
    """Run ``chore`` every ``every`` seconds, and once more when ``stop`` is set (so what
    it flushes is not left behind); a failure is logged and the next round comes anyway."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        try:
            await chore()
        except Exception:
            log.exception("%s failed", what)
