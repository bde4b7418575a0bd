"""The cluster keeper: the process's :class:`ClusterEngine`, kept in step with the database.

One keeper per process that needs clusters (the worker; the web process for the chat's
"already reported" notice and the console's merge and split). Exactly one keeper at a
time is the **writer** — it holds the ``clusters`` lease in ``analytics_leases`` — and
records every assignment in ``ticket_clusters`` and the ``clusters`` summary; the others
(web processes beside a separate ``intake worker``) keep a read-only copy.

* :meth:`ClusterKeeper.start` loads every ticket and the stored corrections and rebuilds
  the clusters in a thread (about 20 s per 100,000 tickets): the process serves meanwhile,
  only without clusters (no notice in the chat, merge/split refused) until it is ready.
* :meth:`ClusterKeeper.sync` (every ``interval``, and at once when a ticket is filed in
  this process) assigns the tickets filed since, and corrections other processes stored;
  the writer also picks up tickets never assigned (imported history: when they are older
  than the engine's window, it rebuilds instead — the engine assigns in time order).
* :meth:`ClusterKeeper.merge` and :meth:`ClusterKeeper.split` act on the engine at once
  and store the correction with its audit entry; the other keepers replay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from core.errors import DatabaseError
from core.pause import Pause
from integrations.analytics.cache import FactsCache
from integrations.analytics.clustering import (
    Assignment,
    ClusterEngine,
    ClusterView,
    Correction,
    RebuildStats,
)
from integrations.analytics.errors import AnalyticsError, InvalidCorrection, UnknownCluster
from integrations.analytics.facts import TicketFact
from integrations.analytics.store import AnalyticsStore, ClusterSummary
from policies.areas import AreaRules
from policies.clusters import DEFAULT_CLUSTER_RULE, ClusterRule
from policies.tickets import WORKING_STATUSES

__all__ = ["LEASE", "ClusterKeeper", "ClustersNotReady", "Nearby"]

log = logging.getLogger(__name__)

#: The name of the writer's lease.
LEASE = "clusters"
#: Tickets filed this long before the newest one seen are looked at again (a transaction
#: that committed late, clocks of two processes a little apart).
_MARGIN = timedelta(minutes=5)
_UNASSIGNED_EVERY = 60.0
_BATCH = 500
#: A wake (a filing, a status change) waits this long before the sync: a burst of them is
#: one sync (three reads, one write) instead of one each.
WAKE_GATHER_SECONDS = 1.0


class ClustersNotReady(AnalyticsError):
    """The clusters are still being built (a few seconds to a minute after start)."""


@dataclass(frozen=True, slots=True)
class Nearby:
    """An open problem cluster a new report is about (the chat's notice).

    ``ticket_id``: the ticket the resident may follow (the earliest still being worked on:
    received, dispatched, in progress or reopened);
    ``residents``: the distinct residents who reported or follow it, not counting the
    one asking; ``mine``: that resident already reported or follows it.
    """

    cluster_id: str
    ticket_id: str
    status: str
    residents: int
    tickets: int
    mine: bool


@dataclass(slots=True)
class _Info:
    street: str | None
    community: str | None
    point: tuple[float, float] | None
    resident: str | None
    created_at: datetime


class ClusterKeeper:
    """See the module docstring. ``may_write``: whether this process may become the
    writer (a web process beside a separate worker passes False)."""

    def __init__(
        self,
        store: AnalyticsStore,
        *,
        areas: AreaRules | None = None,
        may_write: bool = True,
        holder: str | None = None,
        lease_seconds: float = 60.0,
        interval: float = 2.0,
        gather: float = WAKE_GATHER_SECONDS,
        rule: ClusterRule = DEFAULT_CLUSTER_RULE,
        cache: FactsCache | None = None,
    ) -> None:
        self.store = store
        #: where a rebuild reads every ticket's facts (kept for the reports), if given
        self.cache = cache
        self.areas = areas or AreaRules()
        self.may_write = may_write
        self.holder = holder or f"keeper-{os.getpid()}-{random.randrange(1 << 30):x}"
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.rule = rule
        self.engine: ClusterEngine | None = None
        self.writer = False
        self.last_rebuild: RebuildStats | None = None
        self._info: dict[str, _Info] = {}
        self._applied: set[int] = set()
        self._last_correction = 0
        self._watermark: datetime | None = None
        self._pause = Pause(gather)
        self._lock = asyncio.Lock()
        self._rebuilding = False
        self._next_unassigned = 0.0
        self._lease_until: datetime | None = None

    # -- life ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def wake(self) -> None:
        """A ticket was filed or changed in this process: sync within ``gather`` seconds
        rather than at the next tick."""
        self._pause.wake()

    async def start(self) -> None:
        """Build the clusters from the database (see :meth:`rebuild`)."""
        await self.rebuild()

    async def run(self, stop: asyncio.Event) -> None:
        """Build, then sync until ``stop``; errors are logged and the loop goes on."""
        while not stop.is_set() and self.engine is None:
            try:
                await self.rebuild()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("building the clusters failed (%s); retrying", type(exc).__name__)
                await self._pause.sleep(stop, 5.0)
        while not stop.is_set():
            try:
                await self.sync()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("cluster sync failed (%s); retrying", type(exc).__name__)
            except Exception:
                log.exception("cluster sync failed")
            await self._pause.sleep(stop, self.interval)
        if self.writer:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self.store.release_lease(LEASE, self.holder)
            self.writer = False
            self._lease_until = None

    async def _hold_lease(self) -> bool:
        """Take or renew the writer's lease (renewed once half of it has run out: a write
        every ``lease_seconds / 2``, not every pass)."""
        if not self.may_write:
            return False
        now = self.store.now()
        if self.writer and self._lease_until is not None and now < self._lease_until - (
            timedelta(seconds=self.lease_seconds / 2)
        ):
            return True
        was = self.writer
        self.writer = await self.store.take_lease(LEASE, self.holder, self.lease_seconds)
        self._lease_until = now + timedelta(seconds=self.lease_seconds) if self.writer else None
        if self.writer and not was:
            log.info("%s keeps the problem clusters", self.holder)
        return self.writer

    # -- building --------------------------------------------------------------------------

    async def rebuild(self) -> RebuildStats:
        """Recluster every ticket (in a thread) with the stored corrections, then swap the
        new engine in; the writer stores the result."""
        self._rebuilding = True
        try:
            stored = await self.store.corrections()
            facts = await self.cache.load() if self.cache is not None else await self.store.facts()
            engine = ClusterEngine(self.rule, corrections=[c for _, c in stored])
            stats = await asyncio.to_thread(engine.rebuild, facts)
            async with self._lock:
                self.engine = engine
                self._info = {f.id: _info(f) for f in facts}
                self._applied = {i for i, _ in stored}
                self._last_correction = max(self._applied, default=0)
                self._watermark = max((f.created_at for f in facts), default=None)
            self.last_rebuild = stats
            log.info(
                "problem clusters built: %d tickets, %d clusters (%d of two or more) in %.1fs",
                stats.tickets, stats.clusters, stats.multi, stats.seconds,
            )
            if await self._hold_lease():
                await self._store_everything(engine)
            return stats
        finally:
            self._rebuilding = False

    async def _store_everything(self, engine: ClusterEngine) -> None:
        rows = [(t, c, "rebuild", 0.0) for t, c in engine.assignments().items()]
        await self.store.write_assignments(rows)
        views = [v for v in engine.clusters(min_size=2)]
        await self.store.replace_summaries(await self._summaries(views))

    # -- keeping up ------------------------------------------------------------------------

    async def sync(self) -> int:
        """Assign what is new (tickets, corrections); returns how many tickets."""
        if self.engine is None or self._rebuilding:
            return 0
        await self._hold_lease()
        await self._replay_corrections()
        facts = await self._new_facts()
        loop = asyncio.get_running_loop()
        if self.writer and loop.time() >= self._next_unassigned:
            self._next_unassigned = loop.time() + _UNASSIGNED_EVERY
            known = {f.id for f in facts}
            stragglers = [f for f in await self.store.unassigned(_BATCH) if f.id not in known]
            engine = self.engine
            assert engine is not None
            clock = self._watermark
            if clock is not None and any(
                f.created_at < clock - self.rule.window and engine.cluster_of(f.id) is None
                for f in stragglers
            ):
                # History older than the engine's window (an import): assigning it now would
                # open a cluster per ticket; a rebuild puts it in time order.
                log.info("%d tickets from the past: rebuilding the clusters", len(stragglers))
                await self.rebuild()
                return len(stragglers)
            facts.extend(stragglers)
        if not facts:
            return 0
        facts.sort(key=lambda f: (f.created_at, f.id))
        async with self._lock:
            engine = self.engine
            assert engine is not None
            results = [engine.assign(f) for f in facts]
            for fact in facts:
                self._info[fact.id] = _info(fact)
                if self._watermark is None or fact.created_at > self._watermark:
                    self._watermark = fact.created_at
        if self.writer:
            await self._store_assignments(results)
        return len(facts)

    async def _new_facts(self) -> list[TicketFact]:
        engine = self.engine
        assert engine is not None
        since = self._watermark - _MARGIN if self._watermark is not None else None
        recent = await self.store.recent_ids(since)
        unknown = [t for t in recent if engine.cluster_of(t) is None]
        return await self.store.facts(ids=unknown) if unknown else []

    async def _store_assignments(self, results: Sequence[Assignment]) -> None:
        engine = self.engine
        assert engine is not None
        by_ticket = {r.ticket_id: r for r in results}
        touched = {engine.cluster_of(r.ticket_id) for r in results}
        await self._store_clusters(engine, {c for c in touched if c}, by_ticket)

    async def _store_clusters(
        self,
        engine: ClusterEngine,
        cluster_ids: Iterable[str],
        by_ticket: dict[str, Assignment] | None = None,
        gone: Iterable[str] = (),
    ) -> None:
        """Write the rows of every ticket of ``cluster_ids`` and their summaries."""
        rows: list[tuple[str, str, str, float]] = []
        views: list[ClusterView] = []
        for cluster_id in cluster_ids:
            try:
                view = engine.cluster(cluster_id)
            except UnknownCluster:
                continue
            views.append(view)
            for ticket_id in view.ticket_ids:
                result = (by_ticket or {}).get(ticket_id)
                if result is not None:
                    rows.append((ticket_id, view.id, result.reason, result.similarity))
                else:
                    rows.append((ticket_id, view.id, "regrouped", 0.0))
        previous = await self.store.write_assignments(rows)
        live = {v.id for v in views if v.size >= 2}
        stale = (previous | set(gone) | {v.id for v in views}) - live
        multi = [v for v in views if v.size >= 2]
        await self.store.write_summaries(await self._summaries(multi), gone=stale)

    async def _replay_corrections(self) -> None:
        stored = await self.store.corrections(after_id=self._last_correction)
        todo = [(i, c) for i, c in stored if i not in self._applied]
        if not todo:
            if stored:
                self._last_correction = max(i for i, _ in stored)
            return
        touched: set[str] = set()
        gone: set[str] = set()
        async with self._lock:
            engine = self.engine
            assert engine is not None
            for correction_id, correction in todo:
                try:
                    made, removed = _replay(engine, correction)
                except AnalyticsError as exc:
                    log.warning("correction %d could not be replayed: %s", correction_id, exc)
                    made, removed = set(), set()
                touched |= made
                gone |= removed
                self._applied.add(correction_id)
            self._last_correction = max(i for i, _ in stored)
        if self.writer and touched:
            await self._store_clusters(engine, touched, gone=gone)

    # -- staff corrections -----------------------------------------------------------------

    def _require(self) -> ClusterEngine:
        if self.engine is None:
            raise ClustersNotReady("the problem clusters are still being built")
        return self.engine

    async def merge(
        self, cluster_ids: Sequence[str], *, actor: str, ip: str | None = None
    ) -> ClusterView:
        """Merge clusters (staff: the same problem); stored and audited."""
        async with self._lock:
            engine = self._require()
            view = engine.merge(cluster_ids, actor=actor, at=self.store.now())
            correction = engine.corrections[-1]
        detail = f"合并 {'、'.join(cluster_ids)} → {view.id}（{view.size}件）"
        await self._record(correction, actor, ip, detail)
        if self.writer:
            await self._store_clusters(engine, [view.id], gone=cluster_ids)
        return view

    async def split(
        self,
        cluster_id: str,
        ticket_ids: Sequence[str],
        *,
        actor: str,
        ip: str | None = None,
    ) -> tuple[ClusterView, ClusterView]:
        """Move tickets out of a cluster (staff: a different problem); stored and audited."""
        async with self._lock:
            engine = self._require()
            kept, moved = engine.split(cluster_id, ticket_ids, actor=actor, at=self.store.now())
            correction = engine.corrections[-1]
        detail = f"拆分 {cluster_id}：{'、'.join(moved.ticket_ids)} 另成一类（{moved.id}）"
        await self._record(correction, actor, ip, detail)
        if self.writer:
            await self._store_clusters(engine, [kept.id, moved.id], gone=[cluster_id])
        return kept, moved

    async def _record(
        self, correction: Correction, actor: str, ip: str | None, detail: str
    ) -> None:
        correction_id = await self.store.add_correction(
            correction, actor=actor, ip=ip, detail=detail
        )
        self._applied.add(correction_id)

    # -- reading ---------------------------------------------------------------------------

    def cluster(self, cluster_id: str) -> ClusterView:
        return self._require().cluster(cluster_id)

    def cluster_of(self, ticket_id: str) -> str | None:
        return self.engine.cluster_of(ticket_id) if self.engine is not None else None

    async def resolve(self, ids: Sequence[str]) -> list[str]:
        """The cluster each of ``ids`` names (a cluster id, or a ticket id: its cluster).
        A ticket filed since the last sync (a wake waits ``gather`` seconds) is synced
        first, so staff can name a ticket filed a moment ago."""
        engine = self._require()

        def known(name: str) -> bool:
            if engine.cluster_of(name) is not None:
                return True
            try:
                engine.cluster(name)
            except UnknownCluster:
                return False
            return True

        if not all(known(i) for i in ids):
            try:
                await self.sync()
            except (SQLAlchemyError, DatabaseError, OSError) as exc:
                # Resolved from what is known; an unknown name is then refused as such.
                log.warning("cluster sync before a correction failed (%s)", type(exc).__name__)
        return [self.cluster_of(i) or i for i in ids]

    async def nearby(self, fact: TicketFact) -> Nearby | None:
        """The open cluster a report being written is about, if any (without assigning
        it): the most similar candidate with a ticket still open."""
        engine = self.engine
        if engine is None:
            return None
        candidates = engine.similar(fact, limit=3)
        for cluster_id, _score in candidates:
            try:
                view = engine.cluster(cluster_id)
            except UnknownCluster:
                continue
            statuses = await self.store.ticket_statuses(view.ticket_ids)
            # Still being worked on: once its tickets are finished, a new report more likely
            # says the problem is back (a ticket of its own), not that it is being handled.
            working = [t for t in view.ticket_ids if statuses.get(t) in WORKING_STATUSES]
            if not working:
                continue
            target = min(working, key=lambda t: (self._created(t), t))
            followers = await self.store.followers(view.ticket_ids)
            residents = {self._info[t].resident for t in view.ticket_ids if t in self._info}
            residents |= {f.openid for f in followers}
            residents.discard(None)
            mine = fact.openid in residents
            residents.discard(fact.openid)
            return Nearby(
                cluster_id=view.id,
                ticket_id=target,
                status=statuses[target],
                residents=len(residents),
                tickets=view.size,
                mine=mine,
            )
        return None

    def _created(self, ticket_id: str) -> datetime:
        info = self._info.get(ticket_id)
        return info.created_at if info else datetime.max.replace(tzinfo=self.store.now().tzinfo)

    async def _summaries(self, views: Sequence[ClusterView]) -> list[ClusterSummary]:
        followers: dict[str, set[str]] = {}
        if views:
            for f in await self.store.followers(t for v in views for t in v.ticket_ids):
                followers.setdefault(f.ticket_id, set()).add(f.openid)
        out = []
        for view in views:
            infos = [self._info[t] for t in view.ticket_ids if t in self._info]
            street = _most_common(i.street for i in infos)
            community = _most_common(i.community for i in infos)
            points = [i.point for i in infos if i.point is not None]
            if points:
                lat: float | None = statistics.fmean(p[0] for p in points)
                lon: float | None = statistics.fmean(p[1] for p in points)
            else:
                where = self.areas.position(street, community, view.id)
                lat, lon = where if where else (None, None)
            residents = {i.resident for i in infos if i.resident}
            for ticket_id in view.ticket_ids:
                residents |= followers.get(ticket_id, set())
            out.append(
                ClusterSummary(
                    id=view.id,
                    category=view.category,
                    place=view.place or community or street or "",
                    street=street,
                    community=community,
                    first_at=view.first_at,
                    last_at=view.last_at,
                    size=view.size,
                    residents=len(residents),
                    latitude=lat,
                    longitude=lon,
                )
            )
        return out


def _info(fact: TicketFact) -> _Info:
    return _Info(fact.street, fact.community, fact.point, fact.openid, fact.created_at)


def _most_common(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _replay(engine: ClusterEngine, correction: Correction) -> tuple[set[str], set[str]]:
    """Apply a correction another process stored to this engine, by its tickets: a merge
    joins the clusters its tickets are in, a split moves its later groups' tickets out of
    the clusters they share with the first group. Returns (clusters made, ids gone)."""
    if correction.kind == "merge":
        ids = list(dict.fromkeys(c for t in correction.groups[0] if (c := engine.cluster_of(t))))
        if len(ids) < 2:
            return set(), set()
        view = engine.merge(ids, actor=correction.actor, at=correction.at)
        return {view.id}, set(ids)
    made: set[str] = set()
    gone: set[str] = set()
    rest = correction.groups[0]
    for group in correction.groups[1:]:
        by_cluster: dict[str, list[str]] = {}
        for ticket_id in group:
            cluster_id = engine.cluster_of(ticket_id)
            if cluster_id is not None:
                by_cluster.setdefault(cluster_id, []).append(ticket_id)
        for cluster_id, moved in by_cluster.items():
            members = set(engine.cluster(cluster_id).ticket_ids)
            if not members & set(rest) or members <= set(moved):
                continue
            try:
                kept, part = engine.split(
                    cluster_id, moved, actor=correction.actor, at=correction.at
                )
            except InvalidCorrection:
                continue
            made |= {kept.id, part.id}
            gone.add(cluster_id)
    return made, gone
