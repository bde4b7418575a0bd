"""Complaints confirmed while the database could not be reached, kept in the shared state
store until they are filed.

The resident is told at once that the complaint is taken and the number will follow; every
app process checks the queue every few seconds and, once the database answers again, files
each complaint with its ``source_key`` (filing twice returns the first ticket, so a crash
between filing and dequeuing costs nothing) and sends the resident the ticket number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.errors import DatabaseUnavailable, StateBackendError
from integrations.state import KeyValueStore, LockTimeout
from integrations.tickets.model import Ticket

__all__ = ["DeferredFilings"]

log = logging.getLogger(__name__)

INDEX_KEY = "deferred-tickets:index"
LOCK_NAME = "deferred-tickets"
#: How long a drain holds the queue's lock at most (its lease in the state store).
DRAIN_LEASE = 60.0
#: A drain round still running after this long is abandoned by its caller (see
#: :func:`bot.periodic.run_every`), before its lease runs out and another process starts
#: on the same complaints.
DRAIN_ROUND_LIMIT = DRAIN_LEASE - 10.0

#: ``filing``: keyword arguments of :meth:`~integrations.tickets.filing.TicketFiling.file`.
FileTicket = Callable[[dict[str, Any]], Awaitable[Ticket]]
Announce = Callable[[dict[str, Any], Ticket], Awaitable[None]]


class DeferredFilings:
    """A queue of filings waiting for the database (shared by all processes)."""

    def __init__(
        self, store: KeyValueStore, *, ttl: float = 7 * 24 * 3600.0, batch: int = 20
    ) -> None:
        self._store = store
        self.ttl = ttl
        self.batch = batch

    @staticmethod
    def _item_key(source_key: str) -> str:
        return f"deferred-tickets:item:{source_key}"

    async def _index(self) -> list[str]:
        raw = await self._store.get(INDEX_KEY)
        return list(json.loads(raw)) if raw else []

    async def add(self, filing: dict[str, Any]) -> None:
        """Keep ``filing`` (its ``source_key`` identifies it; adding it again is a no-op)."""
        key = str(filing["source_key"])
        await self._store.set(
            self._item_key(key), json.dumps(filing, ensure_ascii=False).encode(), ttl=self.ttl
        )
        async with self._store.lock(LOCK_NAME, timeout=30, blocking_timeout=10):
            index = await self._index()
            if key not in index:
                index.append(key)
                await self._store.set(INDEX_KEY, json.dumps(index).encode(), ttl=self.ttl)
        log.warning("database unreachable: complaint kept for filing later (%d wait)", len(index))

    async def pending(self) -> int:
        return len(await self._index())

    async def drain(self, file: FileTicket, announce: Announce) -> int:
        """File what waits, oldest first, until the queue is empty or the database fails
        again; returns how many were filed. Another process draining meanwhile: skipped."""
        if not await self._store.get(INDEX_KEY):
            return 0
        filed = 0
        try:
            async with self._store.lock(LOCK_NAME, timeout=DRAIN_LEASE, blocking_timeout=0.05):
                index = await self._index()
                for key in list(index[: self.batch]):
                    raw = await self._store.get(self._item_key(key))
                    filing = json.loads(raw) if raw is not None else None
                    ticket: Ticket | None = None
                    if filing is not None:
                        try:
                            ticket = await file(filing)
                        except DatabaseUnavailable as exc:
                            # Still down: tried again on the next round (said each round,
                            # so a queue that never drains shows in the log).
                            log.warning(
                                "deferred complaints wait (%d): %s", len(index), exc
                            )
                            break
                        except Exception:
                            # A filing the service refuses would block the queue forever.
                            log.exception("a deferred complaint cannot be filed; dropped")
                    # Off the queue before the resident is told: a round abandoned while
                    # announcing must not announce the same ticket again.
                    index.remove(key)
                    await self._store.set(INDEX_KEY, json.dumps(index).encode(), ttl=self.ttl)
                    await self._store.delete(self._item_key(key))
                    if filing is not None and ticket is not None:
                        filed += 1
                        try:
                            await announce(filing, ticket)
                        except Exception:
                            log.exception("ticket %s filed, announcing it failed", ticket.id)
        except LockTimeout:
            return 0
        except StateBackendError as exc:
            log.warning("deferred filings unavailable: %s", exc)
        if filed:
            log.info("filed %d deferred complaints", filed)
        return filed
