"""The queue of one process's writers to a SQLite database: residents first.

SQLite has one writer at a time. Within a process, writers queue on a :class:`WriterLock`
(see :func:`integrations.db.migrate.sqlite_writer_lock`) instead of SQLite's busy handler.
Two kinds of writers share it: a resident's turn (filing the complaint they just
confirmed, while they wait for the ticket number) and the background passes (the outbox,
pushes, working-day warnings, the cluster keeper, buffered flushes), which nobody waits
for. A FIFO queue made a confirmation wait for every background transaction queued before
it; here a waiting turn goes next, and the background passes take the turns in between.
They are few (a turn writes once or twice), so background work is delayed, never starved
for long.

Background work is marked by running it inside :func:`background_writes` (its tasks inherit
the mark): the long-lived loops are started that way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from types import TracebackType

__all__ = ["WriterLock", "background_writes"]

_BACKGROUND: ContextVar[bool] = ContextVar("intake_background_writes", default=False)


@contextlib.contextmanager
def background_writes() -> Iterator[None]:
    """Writes made inside (and by tasks started inside) queue behind residents' turns."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


class WriterLock:
    """An asyncio lock with two queues: foreground waiters are served before background
    ones, each queue in arrival order."""

    def __init__(self) -> None:
        self._held = False
        self._front: deque[asyncio.Future[None]] = deque()
        self._back: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self) -> None:
        if not self._held and not self._front and not self._back:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._back if _BACKGROUND.get() else self._front
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock just as we were cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter (a turn before a background pass), or free it."""
        for queue in (self._front, self._back):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # stays held: now the waiter's
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
