"""The analytics' view of the database: ticket facts, cluster assignments, corrections,
the cluster summary, followers and the keeper's lease.

Facts are built from ``tickets`` and their timeline (``ticket_events``), in two queries
per batch:

* ``signed_at`` (签收): the first change out of ``received`` to in progress, resolved,
  closed or rejected — the handling unit acted on it (being dispatched is the desk's
  work, not the unit's);
* ``resolved_at``: the last change to ``resolved`` (for history imported as closed
  without one, the change to ``closed``);
* ``reopened``: the changes to ``reopened``;
* ``due_at`` and ``sign_due_at``: the ticket's *first* 办结 and 签收 deadlines, in working
  time from its filing (the working-day clocks, ``integrations/tickets/clocks.py``;
  escalations and re-dispatches move the ticket's own deadlines on, and judging against
  the moved ones would forgive lateness);
* ``overdue_clocks``: how many times one of its clocks ran out (``overdue_count``);
* ``openid``: the resident — a WeChat openid, or for tickets without one (hotline,
  walk-in) a key derived from the phone number (``tel:`` + 16 hex digits of its SHA-256),
  so one caller counts once; None when neither is known.

History imported without handling times (``import:untimed`` timeline entries) gives
facts with ``timed=False`` and no deadline: not judged on response or lateness.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, func, select, type_coerce, update

from integrations.analytics.clustering import Correction
from integrations.analytics.facts import TicketFact
from integrations.db.models import (
    AnalyticsLeaseRow,
    AuditRow,
    ClusterCorrectionRow,
    ClusterRow,
    TicketClusterRow,
    TicketFollowerRow,
    TicketRow,
    TimelineRow,
    UTCDateTime,
)
from integrations.tickets.core import Core
from integrations.tickets.sql import insert_for
from privacy import redact

__all__ = [
    "UNTIMED_ACTOR",
    "AnalyticsStore",
    "ClusterSummary",
    "Follower",
    "resident_key",
]

#: The timeline actor of an imported status whose time is unknown.
UNTIMED_ACTOR = "import:untimed"
_SIGNED = ("in_progress", "resolved", "closed", "rejected")
_BATCH = 2000


def resident_key(openid: str | None, phone: str | None) -> str | None:
    """Who reported it: the openid, else a stable key of the phone number (not reversible
    at a glance, the same for every ticket of that number)."""
    if openid:
        return openid
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if len(digits) < 7:
        return None
    return "tel:" + hashlib.sha256(digits.encode("ascii")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """One row of the ``clusters`` table."""

    id: str
    category: str
    place: str
    street: str | None
    community: str | None
    first_at: datetime
    last_at: datetime
    size: int
    residents: int
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class Follower:
    """A resident following a ticket filed by someone else."""

    ticket_id: str
    openid: str
    description: str
    location: str
    created_at: datetime


_TICKET_COLUMNS = (
    TicketRow.id,
    TicketRow.openid,
    TicketRow.phone,
    TicketRow.category,
    TicketRow.department,
    TicketRow.street,
    TicketRow.community,
    TicketRow.location,
    TicketRow.description,
    TicketRow.latitude,
    TicketRow.longitude,
    TicketRow.created_at,
    TicketRow.urgent,
    TicketRow.status,
    TicketRow.rating,
    TicketRow.overdue_count,
)


# The keeper's reads (every second, and for each batch of new tickets), built once: see
# _facts_statements.
_ALL_IDS = select(TicketRow.id)
_IDS_SINCE = select(TicketRow.id).where(TicketRow.created_at >= bindparam("since"))
_CORRECTIONS_AFTER = (
    select(ClusterCorrectionRow)
    .where(ClusterCorrectionRow.id > bindparam("after_id"))
    .order_by(ClusterCorrectionRow.id)
)

_CLUSTERS_OF = select(TicketClusterRow.ticket_id, TicketClusterRow.cluster_id).where(
    TicketClusterRow.ticket_id.in_(bindparam("ids", expanding=True))
)
_FOLLOWERS_OF = (
    select(TicketFollowerRow)
    .where(TicketFollowerRow.ticket_id.in_(bindparam("ids", expanding=True)))
    .order_by(TicketFollowerRow.id)
)

#: a SELECT of any columns
_AnySelect = Select[*tuple[Any, ...]]


@functools.cache
def _facts_statements(
    since: bool, until: bool, *, by_ids: bool
) -> tuple[_AnySelect, _AnySelect]:
    """The two statements of :meth:`AnalyticsStore.facts` for one shape of filter (their
    values bound per call as ``since``, ``until`` and ``ids``): the tickets' columns, and
    per ticket (signed_at, resolved_at, closed_at, reopened, untimed entries) from the
    timeline. Built once per shape: the keeper asks for new tickets' facts every second,
    and building the timeline's aggregate cost more CPU than running it (issue 16)."""
    conditions: list[Any] = []
    if since:
        conditions.append(TicketRow.created_at >= bindparam("since"))
    if until:
        conditions.append(TicketRow.created_at < bindparam("until"))
    if by_ids:
        conditions.append(TicketRow.id.in_(bindparam("ids", expanding=True)))
    tickets = (
        select(*_TICKET_COLUMNS).where(*conditions).order_by(TicketRow.created_at, TicketRow.id)
    )
    at = TimelineRow.at
    changed = TimelineRow.from_status != TimelineRow.to_status
    untimed = TimelineRow.actor == UNTIMED_ACTOR
    timed_change = and_(changed, TimelineRow.actor != UNTIMED_ACTOR)
    timeline = (
        select(
            TimelineRow.ticket_id,
            type_coerce(
                func.min(case((and_(timed_change, TimelineRow.to_status.in_(_SIGNED)), at))),
                UTCDateTime(),
            ),
            type_coerce(
                func.max(case((and_(timed_change, TimelineRow.to_status == "resolved"), at))),
                UTCDateTime(),
            ),
            type_coerce(
                func.max(case((and_(timed_change, TimelineRow.to_status == "closed"), at))),
                UTCDateTime(),
            ),
            func.sum(case((and_(changed, TimelineRow.to_status == "reopened"), 1), else_=0)),
            func.sum(case((untimed, 1), else_=0)),
        )
        .where(TimelineRow.ticket_id.in_(select(TicketRow.id).where(*conditions)))
        .group_by(TimelineRow.ticket_id)
    )
    return tickets, timeline


class AnalyticsStore:
    """Reads and writes of the analytics on the ticket database (``core``: the ticket
    service's sessions, SLA rules, time zone and clock)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def now(self) -> datetime:
        return self.core.clock()

    # -- facts ---------------------------------------------------------------------------

    async def facts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ids: Iterable[str] | None = None,
    ) -> list[TicketFact]:
        """Facts of the tickets filed in [``since``, ``until``) (or with ``ids``), oldest
        first."""
        values: dict[str, Any] = {"since": since, "until": until}
        shape = (since is not None, until is not None)
        if ids is not None:
            wanted = list(dict.fromkeys(ids))
            out: list[TicketFact] = []
            for start in range(0, len(wanted), _BATCH):
                values["ids"] = wanted[start : start + _BATCH]
                out.extend(await self._facts(_facts_statements(*shape, by_ids=True), values))
            out.sort(key=lambda f: (f.created_at, f.id))
            return out
        return await self._facts(_facts_statements(*shape, by_ids=False), values)

    async def _facts(
        self, statements: tuple[_AnySelect, _AnySelect], values: dict[str, Any]
    ) -> list[TicketFact]:
        tickets, timeline = statements
        async with self.core.read() as session:
            rows = (await session.execute(tickets, values)).all()
            timing = (
                {row[0]: tuple(row[1:]) for row in (await session.execute(timeline, values))}
                if rows
                else {}
            )
        return [self._fact(row, timing.get(row.id)) for row in rows]

    def _fact(self, row: Any, timing: tuple[Any, ...] | None) -> TicketFact:
        signed_at, resolved_at, closed_at, reopened, untimed = timing or (None, None, None, 0, 0)
        timed = not untimed
        due_at = sign_due_at = None
        if timed:
            first = self.core.clocks.deadlines(
                category=row.category, urgent=bool(row.urgent), department=row.department,
                start=row.created_at,
            )
            due_at, sign_due_at = first.completion, first.sign_for
        latitude, longitude = row.latitude, row.longitude
        if latitude is None or longitude is None:
            latitude = longitude = None
        return TicketFact(
            id=row.id,
            openid=resident_key(row.openid, row.phone),
            category=row.category,
            department=row.department,
            street=row.street,
            community=row.community,
            location=row.location,
            description=row.description,
            latitude=latitude,
            longitude=longitude,
            created_at=row.created_at,
            signed_at=signed_at,
            due_at=due_at,
            resolved_at=resolved_at or closed_at,
            status=row.status,
            reopened=int(reopened or 0),
            rating=row.rating,
            timed=timed,
            sign_due_at=sign_due_at,
            overdue_clocks=int(row.overdue_count or 0),
        )

    async def first_ticket_at(self) -> datetime | None:
        """When the ticket history begins (the earliest ticket)."""
        async with self.core.read() as session:
            first: datetime | None = (
                await session.execute(select(func.min(TicketRow.created_at)))
            ).scalar_one_or_none()
        return first

    async def recent_ids(self, since: datetime | None) -> list[str]:
        """Ids of the tickets filed since ``since`` (all when None)."""
        statement = _ALL_IDS if since is None else _IDS_SINCE
        async with self.core.read() as session:
            return list((await session.execute(statement, {"since": since})).scalars())

    async def unassigned(self, limit: int = 500) -> list[TicketFact]:
        """Facts of tickets not in ``ticket_clusters`` yet, oldest first."""
        statement = (
            select(TicketRow.id)
            .outerjoin(TicketClusterRow, TicketClusterRow.ticket_id == TicketRow.id)
            .where(TicketClusterRow.ticket_id.is_(None))
            .order_by(TicketRow.created_at, TicketRow.id)
            .limit(limit)
        )
        async with self.core.read() as session:
            ids = list((await session.execute(statement)).scalars())
        return await self.facts(ids=ids) if ids else []

    async def ticket_statuses(self, ids: Iterable[str]) -> dict[str, str]:
        wanted = list(ids)
        if not wanted:
            return {}
        async with self.core.read() as session:
            rows = await session.execute(
                select(TicketRow.id, TicketRow.status).where(TicketRow.id.in_(wanted))
            )
            return {tid: status for tid, status in rows.all()}

    # -- cluster assignments ---------------------------------------------------------------

    async def assignments(self, ticket_ids: Iterable[str] | None = None) -> dict[str, str]:
        """ticket id → cluster id (all, or of ``ticket_ids``)."""
        out: dict[str, str] = {}
        async with self.core.read() as session:
            if ticket_ids is None:
                rows = await session.execute(
                    select(TicketClusterRow.ticket_id, TicketClusterRow.cluster_id)
                )
                return {t: c for t, c in rows.all()}
            wanted = list(dict.fromkeys(ticket_ids))
            for start in range(0, len(wanted), _BATCH):
                rows = await session.execute(
                    select(TicketClusterRow.ticket_id, TicketClusterRow.cluster_id).where(
                        TicketClusterRow.ticket_id.in_(wanted[start : start + _BATCH])
                    )
                )
                out.update({t: c for t, c in rows.all()})
        return out

    async def members(self, cluster_ids: Iterable[str]) -> dict[str, list[str]]:
        """cluster id → its ticket ids (from ``ticket_clusters``)."""
        wanted = list(dict.fromkeys(cluster_ids))
        out: dict[str, list[str]] = {c: [] for c in wanted}
        async with self.core.read() as session:
            for start in range(0, len(wanted), _BATCH):
                rows = await session.execute(
                    select(TicketClusterRow.cluster_id, TicketClusterRow.ticket_id)
                    .where(TicketClusterRow.cluster_id.in_(wanted[start : start + _BATCH]))
                    .order_by(TicketClusterRow.ticket_id)
                )
                for cluster_id, ticket_id in rows.all():
                    out[cluster_id].append(ticket_id)
        return out

    async def write_assignments(
        self, rows: Sequence[tuple[str, str, str, float]]
    ) -> set[str]:
        """Upsert (ticket id, cluster id, reason, similarity) rows whose cluster changed or
        that are new; returns the cluster ids the changed tickets had before."""
        if not rows:
            return set()
        now = self.now()
        previous: set[str] = set()
        async with self.core.write() as session:
            table = TicketClusterRow.__table__
            insert = insert_for(session)
            for start in range(0, len(rows), _BATCH):
                chunk = rows[start : start + _BATCH]
                ids = {"ids": [r[0] for r in chunk]}
                known = dict((await session.execute(_CLUSTERS_OF, ids)).all())
                changed = [r for r in chunk if known.get(r[0]) != r[1]]
                previous.update(known[r[0]] for r in changed if r[0] in known)
                if not changed:
                    continue
                values = [
                    {
                        "ticket_id": ticket_id,
                        "cluster_id": cluster_id,
                        "reason": reason,
                        "similarity": round(float(similarity), 4),
                        "assigned_at": now,
                    }
                    for ticket_id, cluster_id, reason, similarity in changed
                ]
                # A ticket deleted meanwhile (resident purge) would fail the foreign key.
                existing = select(TicketRow.id).where(
                    TicketRow.id.in_([v["ticket_id"] for v in values])
                )
                present = set((await session.execute(existing)).scalars())
                kept = [v for v in values if v["ticket_id"] in present]
                if kept:
                    statement = insert(table).values(kept)
                    statement = statement.on_conflict_do_update(
                        index_elements=[table.c.ticket_id],
                        set_={
                            "cluster_id": statement.excluded.cluster_id,
                            "reason": statement.excluded.reason,
                            "similarity": statement.excluded.similarity,
                            "assigned_at": statement.excluded.assigned_at,
                        },
                    )
                    await session.execute(statement)
        return previous

    # -- the summary -----------------------------------------------------------------------

    async def write_summaries(
        self, summaries: Sequence[ClusterSummary], gone: Iterable[str] = ()
    ) -> None:
        """Upsert cluster summaries; delete those of ``gone`` (merged away, now single)."""
        now = self.now()
        gone = [g for g in dict.fromkeys(gone) if g not in {s.id for s in summaries}]
        async with self.core.write() as session:
            for start in range(0, len(gone), _BATCH):
                await session.execute(
                    delete(ClusterRow).where(ClusterRow.id.in_(gone[start : start + _BATCH]))
                )
            if not summaries:
                return
            table = ClusterRow.__table__
            insert = insert_for(session)
            for start in range(0, len(summaries), _BATCH):
                values = [
                    {
                        "id": s.id,
                        "category": s.category,
                        "place": s.place[:128],
                        "street": s.street,
                        "community": s.community,
                        "first_at": s.first_at,
                        "last_at": s.last_at,
                        "size": s.size,
                        "residents": s.residents,
                        "latitude": s.latitude,
                        "longitude": s.longitude,
                        "updated_at": now,
                    }
                    for s in summaries[start : start + _BATCH]
                ]
                statement = insert(table).values(values)
                statement = statement.on_conflict_do_update(
                    index_elements=[table.c.id],
                    set_={k: getattr(statement.excluded, k) for k in values[0] if k != "id"},
                )
                await session.execute(statement)

    async def replace_summaries(self, summaries: Sequence[ClusterSummary]) -> None:
        """The whole summary table anew (after a rebuild)."""
        async with self.core.write() as session:
            await session.execute(delete(ClusterRow))
        await self.write_summaries(summaries)

    async def summaries(
        self, ids: Iterable[str] | None = None, *, active_since: datetime | None = None
    ) -> dict[str, ClusterSummary]:
        statement = select(ClusterRow)
        if ids is not None:
            statement = statement.where(ClusterRow.id.in_(list(ids)))
        if active_since is not None:
            statement = statement.where(ClusterRow.last_at >= active_since)
        async with self.core.read() as session:
            return {
                r.id: ClusterSummary(
                    r.id, r.category, r.place, r.street, r.community, r.first_at, r.last_at,
                    r.size, r.residents, r.latitude, r.longitude,
                )
                for r in (await session.execute(statement)).scalars()
            }

    # -- corrections -----------------------------------------------------------------------

    async def corrections(self, after_id: int = 0) -> list[tuple[int, Correction]]:
        """Stored corrections (id, correction), oldest first."""
        async with self.core.read() as session:
            rows = (await session.execute(_CORRECTIONS_AFTER, {"after_id": after_id})).scalars()
            return [
                (
                    r.id,
                    Correction(
                        kind="merge" if r.kind == "merge" else "split",
                        groups=tuple(tuple(str(t) for t in g) for g in r.groups),
                        actor=r.actor,
                        at=r.at,
                    ),
                )
                for r in rows
            ]

    async def add_correction(
        self, correction: Correction, *, actor: str, ip: str | None = None, detail: str = ""
    ) -> int:
        """Append a correction and its audit entry in one transaction; returns its id."""
        now = self.now()
        async with self.core.write() as session:
            row = ClusterCorrectionRow(
                kind=correction.kind,
                groups=[list(g) for g in correction.groups],
                actor=actor[:64],
                at=correction.at or now,
            )
            session.add(row)
            await session.flush()
            target = f"cluster:{correction.groups[0][0]}"
            session.add(
                AuditRow(
                    at=now,
                    actor=actor[:64],
                    action=f"cluster.{correction.kind}",
                    target=target[:128],
                    detail=detail or None,
                    ip=ip,
                )
            )
            return int(row.id)

    # -- followers -------------------------------------------------------------------------

    async def follow(
        self, ticket_id: str, openid: str, *, description: str, location: str
    ) -> bool:
        """Record that ``openid`` follows ``ticket_id``; False if they already did. Pushes
        start with the ticket's next change."""
        now = self.now()
        async with self.core.write() as session:
            exists = (
                await session.execute(
                    select(TicketFollowerRow.id).where(
                        TicketFollowerRow.ticket_id == ticket_id,
                        TicketFollowerRow.openid == openid,
                    )
                )
            ).scalar_one_or_none()
            if exists is not None:
                return False
            last = (
                await session.execute(
                    select(func.max(TimelineRow.id)).where(TimelineRow.ticket_id == ticket_id)
                )
            ).scalar_one_or_none()
            session.add(
                TicketFollowerRow(
                    ticket_id=ticket_id,
                    openid=openid,
                    # The resident's words: no ID, card or phone number kept (as tickets).
                    description=redact(description[:4000], keep_phones=False),
                    location=redact(location[:4000], keep_phones=False),
                    created_at=now,
                    last_event_id=int(last or 0),
                )
            )
        return True

    async def followers(self, ticket_ids: Iterable[str]) -> list[Follower]:
        wanted = list(dict.fromkeys(ticket_ids))
        out: list[Follower] = []
        async with self.core.read() as session:
            for start in range(0, len(wanted), _BATCH):
                rows = await session.execute(
                    _FOLLOWERS_OF, {"ids": wanted[start : start + _BATCH]}
                )
                out.extend(
                    Follower(r.ticket_id, r.openid, r.description, r.location, r.created_at)
                    for r in rows.scalars()
                )
        return out

    async def followers_since(self, since: datetime) -> list[Follower]:
        async with self.core.read() as session:
            rows = await session.execute(
                select(TicketFollowerRow).where(TicketFollowerRow.created_at >= since)
            )
            return [
                Follower(r.ticket_id, r.openid, r.description, r.location, r.created_at)
                for r in rows.scalars()
            ]

    # -- the keeper's lease ----------------------------------------------------------------

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold (or renew) lease ``name`` for ``seconds`` unless another live holder has
        it; True when ``holder`` holds it now."""
        now = self.now()
        until = now + timedelta(seconds=seconds)
        async with self.core.write() as session:
            row = await session.get(AnalyticsLeaseRow, name, with_for_update=True)
            if row is None:
                table = AnalyticsLeaseRow.__table__
                statement = insert_for(session)(table).values(
                    name=name, holder=holder, until=until
                )
                await session.execute(statement.on_conflict_do_nothing())
                row = await session.get(AnalyticsLeaseRow, name, populate_existing=True)
                return row is not None and row.holder == holder
            if row.holder == holder or row.until <= now:
                row.holder, row.until = holder, until
                return True
            return False

    async def release_lease(self, name: str, holder: str) -> None:
        async with self.core.write() as session:
            await session.execute(
                update(AnalyticsLeaseRow)
                .where(AnalyticsLeaseRow.name == name, AnalyticsLeaseRow.holder == holder)
                .values(until=self.now())
            )

