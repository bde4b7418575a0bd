"""Keeping a short lease alive while work goes on.

Claims in the shared store (a resident's lock, a message's "being processed" mark) are
held with a short TTL and renewed every ``every`` seconds by the live holder: when the
process holding one dies, the others wait seconds for it, not minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from core.errors import StateBackendError

__all__ = ["renewing"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def renewing(renew: Callable[[], Awaitable[object]], every: float) -> AsyncIterator[None]:
    """Call ``renew()`` every ``every`` seconds while the block runs."""

    async def keep() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await renew()
            except StateBackendError as exc:
                log.warning("could not renew a lease: %s", exc)

    task = asyncio.create_task(keep())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
