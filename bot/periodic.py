"""Background chores of an app process that run every few seconds until shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["heartbeat", "run_every"]

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
            # Deliberately broad: a background chore must survive one bad round; the fault
            # is logged with its traceback.
            log.exception("%s failed", what)


async def heartbeat(path: Path, stop: asyncio.Event, every: float = 5.0) -> None:
    """Touch ``path`` every ``every`` seconds until ``stop`` is set.

    A process without an HTTP port (``intake worker``) shows it is alive this way: a
    liveness probe reads the file's age, and a blocked event loop stops touching it.
    """
    while not stop.is_set():
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(path.touch)
        except OSError as exc:  # the probe will say so; the worker's work goes on
            log.warning("cannot touch the heartbeat file %s: %s", path, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
