"""Keeping a short lease alive while work goes on.

Claims in the shared store (a resident's lock, a message's "being processed" mark) are
held with a short TTL and renewed every ``every`` seconds by the live holder: when the
process holding one dies, the others wait seconds for it, not minutes.

Every message holds two such leases, and almost every message is done long before the
first renewal is due, so a lease costs one timer (armed on entry, cancelled on exit), not a
task of its own: a renewal task exists only while a renewal actually runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from core.errors import StateBackendError

__all__ = ["renewing"]

log = logging.getLogger(__name__)


class renewing:  # lower case: used like the function (an async context manager) it was
    """``async with renewing(renew, every):`` calls ``renew()`` every ``every`` seconds while
    the block runs; no renewal runs after the block ends."""

    __slots__ = ("_every", "_handle", "_loop", "_renew", "_stopped", "_task")

    def __init__(self, renew: Callable[[], Awaitable[object]], every: float) -> None:
        self._renew = renew
        self._every = every
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def __aenter__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        self._handle = self._loop.call_later(self._every, self._due)

    def _due(self) -> None:
        assert self._loop is not None
        self._handle = None
        self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._renew()
        except StateBackendError as exc:
            log.warning("could not renew a lease: %s", exc)
        finally:
            self._task = None
            if not self._stopped:
                self._arm()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
