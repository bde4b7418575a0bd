"""Every ticket's facts in memory, kept current cheaply, so reports need not re-read a year.

Reading 100,000 tickets' facts (rows, timeline aggregates, the record) takes seconds; the
keeper reads them anyway when it builds the clusters at start. :class:`FactsCache` keeps
them and, before each use, re-reads only the tickets whose timeline grew since: every
change of a ticket that matters to the analytics (filing, a status change, a rating, an
assignment, an import) writes a ``ticket_events`` row. Event ids are not committed in
order on PostgreSQL (a transaction holding a lower id may commit after a higher one), so
each look covers the last :data:`_REACH` ids again and skips the events already seen.

Until it is loaded (a process whose keeper has not started: the CLI) reports read their
period from the database instead.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select

from integrations.analytics.facts import TicketFact
from integrations.analytics.store import AnalyticsStore
from integrations.db.models import TimelineRow

__all__ = ["FactsCache"]

#: event ids looked at again on each refresh (later commits of earlier ids)
_REACH = 1000


class FactsCache:
    """See the module docstring."""

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store
        self.loaded = False
        self._facts: dict[str, TicketFact] = {}
        self._sorted: list[TicketFact] = []
        self._times: list[datetime] = []
        self._dirty = False
        self._mark = 0
        self._seen: set[int] = set()
        self._lock = asyncio.Lock()

    async def _recent_events(self, after: int) -> list[tuple[int, str]]:
        async with self.store.core.read() as session:
            rows = await session.execute(
                select(TimelineRow.id, TimelineRow.ticket_id).where(TimelineRow.id > after)
            )
            return [(int(i), str(t)) for i, t in rows.all()]

    async def load(self) -> list[TicketFact]:
        """Read every ticket's facts (oldest first) and keep them."""
        async with self._lock:
            async with self.store.core.read() as session:
                last = (await session.execute(select(func.max(TimelineRow.id)))).scalar_one()
            mark = int(last or 0)  # taken before the read: later changes are re-read
            recent = await self._recent_events(max(0, mark - _REACH))
            facts = await self.store.facts()
            self._facts = {f.id: f for f in facts}
            self._mark = mark
            self._seen = {i for i, _ in recent if i <= mark}
            self._sorted, self._times = facts, [f.created_at for f in facts]
            self._dirty = False
            self.loaded = True
            return list(facts)

    async def refresh(self) -> int:
        """Re-read the tickets changed since the last look; returns how many."""
        if not self.loaded:
            return 0
        async with self._lock:
            rows = await self._recent_events(max(0, self._mark - _REACH))
            new = [(i, t) for i, t in rows if i not in self._seen]
            if not new:
                return 0
            self._seen.update(i for i, _ in new)
            self._mark = max(self._mark, max(i for i, _ in new))
            self._seen = {i for i in self._seen if i > self._mark - 2 * _REACH}
            facts = await self.store.facts(ids={t for _, t in new})
            for fact in facts:
                self._facts[fact.id] = fact
            self._dirty = True
            return len(facts)

    def _ordered(self) -> list[TicketFact]:
        if self._dirty:
            self._sorted = sorted(self._facts.values(), key=lambda f: (f.created_at, f.id))
            self._times = [f.created_at for f in self._sorted]
            self._dirty = False
        return self._sorted

    async def all(self) -> list[TicketFact]:
        await self.refresh()
        return list(self._ordered())

    async def between(self, since: datetime | None, until: datetime | None) -> list[TicketFact]:
        """Facts of tickets filed in [since, until), oldest first (refreshed first)."""
        await self.refresh()
        ordered = self._ordered()
        start = bisect.bisect_left(self._times, since) if since is not None else 0
        end = bisect.bisect_left(self._times, until) if until is not None else len(ordered)
        return ordered[start:end]

    def forget(self, ticket_ids: Iterable[str]) -> None:
        """Drop tickets (deleted from the database)."""
        for ticket_id in ticket_ids:
            if self._facts.pop(ticket_id, None) is not None:
                self._dirty = True
