"""The pause between two passes of a background loop (the outbox worker, the cluster keeper).

A loop sleeps until its interval ends or until something in the same process asks for a pass
sooner (:meth:`Pause.wake`: a ticket was filed, a status changed). Woken, it still waits
``gather`` seconds before the pass: a burst of filings (ten a second on a busy morning) is
then taken in one pass (one claim, one record transaction, one sync) instead of a pass each,
and each pass holds SQLite's single writer lock for a burst rather than once per ticket.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Pause"]


class Pause:
    """A loop's pause that :meth:`wake` cuts short, after ``gather`` seconds."""

    def __init__(self, gather: float = 0.0) -> None:
        self.gather = gather
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Ask for a pass soon (within ``gather`` seconds)."""
        self._woken.set()

    async def sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until ``seconds`` have passed, ``stop`` is set, or a wake plus ``gather``."""
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._woken.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self._woken.is_set() and not stop.is_set() and self.gather > 0:
            # The wakes that come meanwhile join this pass.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.gather)
        self._woken.clear()
