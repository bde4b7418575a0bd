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
    every: float,
    stop: asyncio.Event,
    chore: Callable[[], Awaitable[object]],
    what: str,
    *,
    limit: float | None = None,
) -> None:
    """Run ``chore`` every ``every`` seconds, and once more when ``stop`` is set (so what
    it flushes is not left behind); a failure is logged and the next round comes anyway.

    ``limit``: a round still running after this many seconds is cancelled and logged. A
    chore waiting on a connection that never answers would otherwise stop every later
    round without a word.
    """
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        round_limit = asyncio.timeout(limit)
        try:
            async with round_limit:
                await chore()
        except Exception as exc:
            if isinstance(exc, TimeoutError) and round_limit.expired():
                log.warning("%s took over %s s: that round was abandoned", what, limit)
            else:
                # Deliberately broad: a background chore must survive one bad round; the
                # fault is logged with its traceback.
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
