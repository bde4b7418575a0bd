"""Problem clusters (一类问题): tickets about the same problem at the same place.

:class:`ClusterEngine` keeps the clusters in memory and applies the rules of
:mod:`policies.clusters`:

* **blocking** — a cluster is indexed by category × each place key of its tickets
  (crossing / estate / landmark / village, or the road), × the grid cell of any ticket with
  coordinates, × the community; a new ticket looks only at the blocks of its own (and
  related) categories, its place keys, the nine cells around its point and its community;
* **comparison** — the cosine of character 2–3-gram TF-IDF vectors of the problem text
  (:mod:`integrations.analytics.text`), against the cluster's centroid and its latest
  tickets, the best of them;
* **incremental assignment** (:meth:`ClusterEngine.assign`) — the most similar candidate
  above the rule's threshold, else a new cluster. Tickets are kept in time order, so
  assignment is O(candidates), not O(tickets);
* **full rebuild** (:meth:`ClusterEngine.rebuild`) — the document frequencies refitted on
  all tickets, then every ticket assigned in (created_at, id) order: deterministic, and the
  same procedure as the live path;
* **corrections** — staff merges and splits (:meth:`ClusterEngine.merge`,
  :meth:`ClusterEngine.split`) take effect at once and are recorded as
  :class:`Correction` values; the integration stores them and passes them back, and a
  rebuild honours them as must-link / cannot-link constraints (latest correction wins).

A cluster's id is the id of its earliest ticket, so it is stable across rebuilds as long as
that ticket stays in it.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from integrations.analytics.errors import InvalidCorrection, UnknownCluster
from integrations.analytics.facts import TicketFact
from integrations.analytics.text import (
    TextModel,
    Vector,
    cosine,
    grams,
    normalized_location,
    problem_text_normalized,
)
from nlu.normalize import normalize
from policies.clusters import (
    BUILDING_LEVEL_CATEGORIES,
    DEFAULT_CLUSTER_RULE,
    ClusterRule,
    PlaceMatch,
    categories_related,
    place_match,
    related_categories,
)
from policies.place_key import ROAD, PlaceKey, cells_around, grid_cell, place_key

__all__ = [
    "Assignment",
    "ClusterEngine",
    "ClusterView",
    "Correction",
    "RebuildStats",
]

CorrectionKind = Literal["merge", "split"]
_MAX_POINTS = 16  # coordinates kept per cluster for the distance test
_SURE = 0.6  # a similarity this high settles the comparison with a cluster
_SWEEP_EVERY = 5000  # assignments between sweeps of long-quiet clusters


@dataclass(frozen=True, slots=True)
class Correction:
    """A staff correction, to be stored and replayed.

    ``merge``: ``groups`` holds one group of ticket ids that belong together. ``split``:
    two or more groups that belong apart (each group together).
    """

    kind: CorrectionKind
    groups: tuple[tuple[str, ...], ...]
    actor: str = ""
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("merge", "split"):
            raise InvalidCorrection(f"unknown correction {self.kind!r}; merge or split")
        if any(not group for group in self.groups):
            raise InvalidCorrection("a correction group must not be empty")
        if self.kind == "merge" and len(self.groups) != 1:
            raise InvalidCorrection("a merge has exactly one group of tickets")
        if self.kind == "split" and len(self.groups) < 2:
            raise InvalidCorrection("a split needs at least two groups of tickets")
        seen: set[str] = set()
        for group in self.groups:
            for ticket_id in group:
                if ticket_id in seen:
                    raise InvalidCorrection(f"ticket {ticket_id} is in two groups")
                seen.add(ticket_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for a database row or a file)."""
        return {
            "kind": self.kind,
            "groups": [list(g) for g in self.groups],
            "actor": self.actor,
            "at": self.at.isoformat() if self.at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Correction:
        try:
            at = data.get("at")
            return cls(
                kind=data["kind"],
                groups=tuple(tuple(str(t) for t in g) for g in data["groups"]),
                actor=str(data.get("actor") or ""),
                at=datetime.fromisoformat(at) if at else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidCorrection):
                raise
            raise InvalidCorrection(f"not a correction: {exc}") from exc


class _Constraints:
    """Corrections folded into must-link labels and cannot-link label pairs.

    Every ticket named in a correction gets a label (the latest correction that named it
    decides): tickets with one label belong together. Cannot-link is kept per ticket pair
    and lifted to labels; a later merge of both tickets removes the pair.
    """

    def __init__(self) -> None:
        self.label: dict[str, int] = {}
        self._apart: dict[str, set[str]] = {}
        self._next = 0
        self.log: list[Correction] = []

    def apply(self, correction: Correction) -> None:
        self.log.append(correction)
        for group in correction.groups:
            self._next += 1
            members = set(group)
            for ticket_id in group:
                self.label[ticket_id] = self._next
                partners = self._apart.get(ticket_id)
                if partners:
                    partners -= members
                    for other in members:
                        self._apart.get(other, set()).discard(ticket_id)
        if correction.kind == "split":
            for i, group in enumerate(correction.groups):
                for other_group in correction.groups[i + 1 :]:
                    for a in group:
                        self._apart.setdefault(a, set()).update(other_group)
                    for b in other_group:
                        self._apart.setdefault(b, set()).update(group)

    def apart_labels(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for a, partners in self._apart.items():
            for b in partners:
                la, lb = self.label[a], self.label[b]
                if la != lb:
                    out.setdefault(la, set()).add(lb)
        return out


@dataclass(slots=True)
class _Entry:
    """What the engine keeps of each ticket (enough to re-cluster it after a correction)."""

    id: str
    category: str
    created_at: datetime
    resident: str | None
    place: PlaceKey
    point: tuple[float, float] | None
    area: str | None
    text: str  # the problem text; its grams are recomputed when needed (memory)
    cluster: str = ""

    @property
    def grams(self) -> frozenset[str]:
        return grams(self.text)

    @property
    def vague(self) -> bool:
        return self.place.empty and self.point is None


class _Cluster:
    __slots__ = (
        "alive",
        "areas",
        "buildings",
        "categories",
        "centroid",
        "first_at",
        "id",
        "keys",
        "labels",
        "last_at",
        "members",
        "norm2",
        "numbers",
        "points",
        "recent",
        "vague",
    )

    def __init__(self, seed: _Entry, recent: int) -> None:
        self.id = seed.id
        self.alive = True
        self.members: list[str] = []
        self.categories: Counter[str] = Counter()
        self.keys: set[str] = set()
        self.numbers: dict[str, list[int]] = {}
        self.points: list[tuple[float, float]] = []
        self.areas: set[str] = set()
        self.buildings: set[str] = set()
        self.vague = False
        self.labels: set[int] = set()
        self.centroid: Vector = {}
        self.norm2 = 0.0
        self.recent: deque[Vector] = deque(maxlen=recent)
        self.first_at = seed.created_at
        self.last_at = seed.created_at

    def add(self, entry: _Entry, vector: Vector, label: int | None) -> None:
        self.members.append(entry.id)
        self.categories[entry.category] += 1
        self.keys.update(entry.place.keys)
        if entry.place.kind == ROAD and entry.place.number is not None:
            self.numbers.setdefault(entry.place.keys[0], []).append(entry.place.number)
        if entry.point is not None and len(self.points) < _MAX_POINTS:
            self.points.append(entry.point)
        if entry.area:
            self.areas.add(entry.area)
        if entry.place.building is not None:
            self.buildings.add(entry.place.building)
        # Vague: no ticket of it has a place key or coordinates (only the community).
        self.vague = not self.keys and not self.points
        if label is not None:
            self.labels.add(label)
        if vector:
            dot = cosine(vector, self.centroid) if self.centroid else 0.0
            centroid = self.centroid
            for g, w in vector.items():
                centroid[g] = centroid.get(g, 0.0) + w
            self.norm2 += 2.0 * dot + 1.0
            self.recent.append(vector)
        if entry.created_at < self.first_at or (
            entry.created_at == self.first_at and entry.id < self.id
        ):
            self.id = entry.id  # the cluster is named after its earliest ticket
        self.first_at = min(self.first_at, entry.created_at)
        self.last_at = max(self.last_at, entry.created_at)

    def dormant(self) -> None:
        self.centroid = {}
        self.norm2 = 0.0
        self.recent.clear()

    def similarity(self, vector: Vector) -> float:
        if not vector:
            return 0.0
        best = cosine(vector, self.centroid) / math.sqrt(self.norm2) if self.norm2 > 0 else 0.0
        for member in reversed(self.recent):
            if best >= _SURE:
                break  # as good as certain: the rest cannot change the decision
            best = max(best, cosine(vector, member))
        return best

    @property
    def category(self) -> str:
        # The most frequent category; ties go to the alphabetically first (deterministic).
        return min(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))[0]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where :meth:`ClusterEngine.assign` put a ticket, and why.

    ``reason``: ``new`` (no candidate close enough: a cluster of its own), ``similar``
    (joined the most similar candidate; ``similarity`` and ``match`` say how), ``correction``
    (a staff merge keeps it with tickets already placed), or ``known`` (assigned before).
    """

    ticket_id: str
    cluster_id: str
    reason: Literal["new", "similar", "correction", "known"]
    similarity: float = 0.0
    match: PlaceMatch = PlaceMatch.NONE
    size: int = 1


@dataclass(frozen=True, slots=True)
class ClusterView:
    """A cluster as callers see it (a snapshot)."""

    id: str
    ticket_ids: tuple[str, ...]
    category: str
    categories: Mapping[str, int]
    place: str
    first_at: datetime
    last_at: datetime
    residents: int

    @property
    def size(self) -> int:
        return len(self.ticket_ids)


@dataclass(frozen=True, slots=True)
class RebuildStats:
    """What a full rebuild did and how long it took."""

    tickets: int
    clusters: int
    seconds: float
    corrections: int = 0
    multi: int = field(default=0)  # clusters of two or more tickets


class ClusterEngine:
    """In-memory problem clusters with incremental assignment, full rebuild and staff
    corrections (see the module docstring). Not thread-safe: one writer at a time."""

    def __init__(
        self,
        rule: ClusterRule = DEFAULT_CLUSTER_RULE,
        corrections: Iterable[Correction] = (),
    ) -> None:
        self.rule = rule
        self.text = TextModel()
        self._related_cache: dict[str, tuple[str, ...]] = {}
        self._constraints = _Constraints()
        for correction in corrections:
            self._constraints.apply(correction)
        self._reset()

    # -- state ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._clusters: dict[str, _Cluster] = {}
        self._index: dict[str, list[_Cluster]] = {}
        self._label_cluster: dict[int, _Cluster] = {}
        self._apart = self._constraints.apart_labels()
        self._clock: datetime | None = None
        self._added = 0

    @property
    def corrections(self) -> tuple[Correction, ...]:
        """Every correction applied so far, oldest first: store them, pass them back."""
        return tuple(self._constraints.log)

    def __len__(self) -> int:
        return len(self._entries)

    # -- preparing a ticket --------------------------------------------------------------------

    def _entry(self, fact: TicketFact) -> _Entry:
        location = normalized_location(fact.location)
        place = place_key(location)
        return _Entry(
            id=fact.id,
            category=fact.category,
            created_at=fact.created_at,
            resident=fact.openid,
            place=place,
            point=fact.point,
            area=fact.community or fact.street,
            text=problem_text_normalized(normalize(fact.description), location, place.names),
        )

    def _block_keys(self, entry: _Entry, lookup: bool) -> list[str]:
        keys = list(entry.place.keys)
        if entry.point is not None:
            lat, lon = entry.point
            size = self.rule.radius_m
            if lookup:
                keys.extend(cells_around(lat, lon, size))
            else:
                keys.append(grid_cell(lat, lon, size))
        if entry.area:
            keys.append("area:" + entry.area)
        return keys

    # -- assignment ----------------------------------------------------------------------------

    def _candidates(self, entry: _Entry) -> Iterator[_Cluster]:
        seen: set[int] = set()
        horizon = None
        if self._clock is not None:
            horizon = self._clock - 2 * self.rule.window
        for category in self._related(entry.category):
            for key in self._block_keys(entry, lookup=True):
                bucket = self._index.get(category + "|" + key)
                if not bucket:
                    continue
                stale = False
                for cluster in bucket:
                    if not cluster.alive or (horizon is not None and cluster.last_at < horizon):
                        stale = True
                        continue
                    if id(cluster) not in seen:
                        seen.add(id(cluster))
                        yield cluster
                if stale:  # drop clusters merged away or long quiet from this block
                    bucket[:] = [
                        c for c in bucket if c.alive and (horizon is None or c.last_at >= horizon)
                    ]

    def _related(self, category: str) -> tuple[str, ...]:
        related = self._related_cache.get(category)
        if related is None:
            related = self._related_cache[category] = tuple(sorted(related_categories(category)))
        return related

    def _allowed(self, cluster: _Cluster, label: int | None) -> bool:
        if label is None or not cluster.labels:
            return True
        apart = self._apart.get(label)
        return not (apart and not apart.isdisjoint(cluster.labels))

    def _score(self, entry: _Entry, vector: Vector, cluster: _Cluster) -> tuple[float, PlaceMatch]:
        """The similarity of ``entry`` to ``cluster`` if it may join, else -1."""
        rule = self.rule
        if not rule.within_window(entry.created_at, cluster.first_at, cluster.last_at):
            return -1.0, PlaceMatch.NONE
        same = entry.category in cluster.categories
        if not same and not any(categories_related(entry.category, c) for c in cluster.categories):
            return -1.0, PlaceMatch.NONE
        match = place_match(
            entry.place.keys,
            entry.place.number if entry.place.kind == ROAD else None,
            entry.point,
            entry.area,
            cluster.keys,
            cluster.numbers,
            cluster.points,
            cluster.areas,
            cluster.vague,
            rule,
            building=entry.place.building,
            cluster_buildings=cluster.buildings,
            building_level=entry.category in BUILDING_LEVEL_CATEGORIES,
        )
        if entry.created_at > cluster.last_at:
            gap = entry.created_at - cluster.last_at
        elif entry.created_at < cluster.first_at:
            gap = cluster.first_at - entry.created_at
        else:
            gap = timedelta(0)
        threshold = rule.threshold(same, match, gap)
        if threshold > 1.0:
            return -1.0, match
        similarity = cluster.similarity(vector)
        return (similarity if similarity >= threshold else -1.0), match

    def _place(self, entry: _Entry, cluster: _Cluster, vector: Vector, label: int | None) -> None:
        cluster.add(entry, vector, label)
        entry.cluster = cluster.id
        for key in self._block_keys(entry, lookup=False):
            bucket = self._index.setdefault(entry.category + "|" + key, [])
            if cluster not in bucket[-4:]:  # a repeat further back is harmless
                bucket.append(cluster)
        if label is not None:
            self._label_cluster.setdefault(label, cluster)

    def _new_cluster(self, entry: _Entry) -> _Cluster:
        cluster = _Cluster(entry, self.rule.recent_members)
        self._clusters[entry.id] = cluster
        return cluster

    def _assign_entry(self, entry: _Entry, doc: frozenset[str] | None = None) -> Assignment:
        if self._clock is None or entry.created_at > self._clock:
            self._clock = entry.created_at
        self._entries[entry.id] = entry
        self._added += 1
        if self._added % _SWEEP_EVERY == 0:
            self._sweep()
        vector = self.text.vector(entry.grams if doc is None else doc)
        label = self._constraints.label.get(entry.id)
        if label is not None:
            target = self._label_cluster.get(label)
            if target is not None and target.alive:
                old_id = target.id
                self._place(entry, target, vector, label)
                self._renamed(target, old_id)
                return Assignment(entry.id, target.id, "correction", size=len(target.members))
        passed: list[tuple[float, _Cluster, PlaceMatch]] = []
        for cluster in self._candidates(entry):
            if not self._allowed(cluster, label):
                continue
            score, match = self._score(entry, vector, cluster)
            if score >= 0:
                passed.append((score, cluster, match))
        if not passed:
            cluster = self._new_cluster(entry)
            self._place(entry, cluster, vector, label)
            return Assignment(entry.id, cluster.id, "new")
        # The most similar; ties go to the older cluster (first_at, then id): deterministic.
        passed.sort(key=lambda p: (-p[0], p[1].first_at, p[1].id))
        score, best, match = passed[0]
        old_id = best.id
        self._place(entry, best, vector, label)
        if self.rule.bridge:
            for _score, other, other_match in passed[1:]:
                if self._bridgeable(best, other, match, other_match, entry.category):
                    self._absorb(best, other)
        self._renamed(best, old_id)
        return Assignment(entry.id, best.id, "similar", score, match, size=len(best.members))

    def _bridgeable(
        self,
        best: _Cluster,
        other: _Cluster,
        match: PlaceMatch,
        other_match: PlaceMatch,
        category: str,
    ) -> bool:
        """Whether a ticket that fits both clusters makes them one: only when it is at both
        places for sure (not just on the same road or in the same community), and the
        clusters' buildings and corrections allow it."""
        if not other.alive or other is best:
            return False
        if min(match, other_match) < PlaceMatch.NEAR:
            return False
        if (
            category in BUILDING_LEVEL_CATEGORIES
            and best.buildings
            and other.buildings
            and best.buildings.isdisjoint(other.buildings)
        ):
            return False
        return all(self._allowed(best, label) for label in other.labels)

    def _absorb(self, target: _Cluster, other: _Cluster) -> None:
        """Move every ticket of ``other`` into ``target``."""
        other.alive = False
        del self._clusters[other.id]
        entries = sorted(
            (self._entries[t] for t in other.members), key=lambda e: (e.created_at, e.id)
        )
        for entry in entries:
            label = self._constraints.label.get(entry.id)
            self._place(entry, target, self.text.vector(entry.grams), label)
            if label is not None:
                self._label_cluster[label] = target

    def _sweep(self) -> None:
        """Free the vectors of clusters quiet for two windows: no new ticket can join them
        by similarity any more (a correction recomputes what it needs from the texts)."""
        if self._clock is None:
            return
        horizon = self._clock - 2 * self.rule.window
        for cluster in self._clusters.values():
            if cluster.last_at < horizon and cluster.norm2:
                cluster.dormant()

    def _renamed(self, cluster: _Cluster, old_id: str) -> None:
        """A ticket earlier than the seed joined: the cluster takes its id."""
        if cluster.id == old_id:
            return
        del self._clusters[old_id]
        self._clusters[cluster.id] = cluster
        for ticket_id in cluster.members:
            self._entries[ticket_id].cluster = cluster.id

    def assign(self, fact: TicketFact) -> Assignment:
        """Put a newly filed ticket into a cluster (an existing one or its own).

        Idempotent: a ticket assigned before keeps its cluster (``reason="known"``).
        """
        known = self._entries.get(fact.id)
        if known is not None:
            cluster = self._clusters[known.cluster]
            return Assignment(fact.id, cluster.id, "known", size=len(cluster.members))
        return self._assign_entry(self._entry(fact))

    def rebuild(self, facts: Iterable[TicketFact]) -> RebuildStats:
        """Recluster every ticket from scratch (document frequencies refitted), honouring
        the corrections. Deterministic: the same facts and corrections give the same
        clusters, in any input order (a repeated id counts once: the last one)."""
        started = time.perf_counter()
        by_id = {fact.id: fact for fact in facts}
        entries = sorted(
            (self._entry(fact) for fact in by_id.values()),
            key=lambda e: (e.created_at, e.id),
        )
        docs = [e.grams for e in entries]
        self.text.fit(zip(docs, (e.category for e in entries), strict=True))
        self._reset()
        for entry, doc in zip(entries, docs, strict=True):
            self._assign_entry(entry, doc)
        del docs
        return RebuildStats(
            tickets=len(entries),
            clusters=len(self._clusters),
            seconds=time.perf_counter() - started,
            corrections=len(self._constraints.log),
            multi=sum(1 for c in self._clusters.values() if len(c.members) > 1),
        )

    # -- reading -------------------------------------------------------------------------------

    def cluster_of(self, ticket_id: str) -> str | None:
        """The id of the ticket's cluster, or None for a ticket never assigned."""
        entry = self._entries.get(ticket_id)
        return entry.cluster if entry else None

    def assignments(self) -> dict[str, str]:
        """Ticket id → cluster id, for every ticket."""
        return {tid: e.cluster for tid, e in self._entries.items()}

    def _view(self, cluster: _Cluster) -> ClusterView:
        entries = [self._entries[t] for t in cluster.members]
        places = Counter(e.place.name for e in entries if e.place.name)
        place = min(places.items(), key=lambda kv: (-kv[1], kv[0]))[0] if places else ""
        if not place:
            areas = sorted(cluster.areas)
            place = areas[0] if areas else ""
        residents = {e.resident for e in entries if e.resident}
        return ClusterView(
            id=cluster.id,
            ticket_ids=tuple(cluster.members),
            category=cluster.category,
            categories=dict(cluster.categories),
            place=place,
            first_at=cluster.first_at,
            last_at=cluster.last_at,
            residents=len(residents),
        )

    def cluster(self, cluster_id: str) -> ClusterView:
        found = self._clusters.get(cluster_id)
        if found is None:
            raise UnknownCluster(f"no cluster {cluster_id}")
        return self._view(found)

    def clusters(self, min_size: int = 1) -> Iterator[ClusterView]:
        """Every cluster with at least ``min_size`` tickets, oldest first."""
        for cluster in sorted(self._clusters.values(), key=lambda c: (c.first_at, c.id)):
            if len(cluster.members) >= min_size:
                yield self._view(cluster)

    def similar(self, fact: TicketFact, limit: int = 5) -> list[tuple[str, float]]:
        """Clusters a ticket being written may be about (id, similarity), best first,
        without assigning it: the "已有居民反映过" prompt (FixMyStreet offers to follow an
        existing report instead of filing a duplicate)."""
        entry = self._entry(fact)
        vector = self.text.vector(entry.grams)
        found = []
        for cluster in self._candidates(entry):
            score, _match = self._score(entry, vector, cluster)
            if score >= 0:
                found.append((cluster.id, score))
        found.sort(key=lambda kv: (-kv[1], kv[0]))
        return found[:limit]

    # -- corrections ---------------------------------------------------------------------------

    def _rebuild_clusters(self, parts: Sequence[Sequence[str]]) -> list[_Cluster]:
        """Replace the clusters of ``parts``' tickets by one cluster per part."""
        made = []
        for part in parts:
            entries = sorted((self._entries[t] for t in part), key=lambda e: (e.created_at, e.id))
            cluster = self._new_cluster(entries[0])
            for entry in entries:
                label = self._constraints.label.get(entry.id)
                self._place(entry, cluster, self.text.vector(entry.grams), label)
                if label is not None:
                    self._label_cluster[label] = cluster
            made.append(cluster)
        return made

    def _retire(self, cluster_ids: Iterable[str]) -> None:
        for cluster_id in cluster_ids:
            cluster = self._clusters.pop(cluster_id)
            cluster.alive = False

    def merge(
        self, cluster_ids: Sequence[str], *, actor: str = "", at: datetime | None = None
    ) -> ClusterView:
        """Merge clusters into one (staff: "these are the same problem"); recorded."""
        ids = list(dict.fromkeys(cluster_ids))
        missing = [c for c in ids if c not in self._clusters]
        if missing:
            raise UnknownCluster(f"no cluster {', '.join(missing)}")
        if len(ids) < 2:
            raise InvalidCorrection("merging needs at least two clusters")
        members = tuple(t for c in ids for t in self._clusters[c].members)
        self._constraints.apply(Correction("merge", (members,), actor, at))
        self._apart = self._constraints.apart_labels()
        self._retire(ids)
        (merged,) = self._rebuild_clusters([members])
        return self._view(merged)

    def split(
        self,
        cluster_id: str,
        ticket_ids: Iterable[str],
        *,
        actor: str = "",
        at: datetime | None = None,
    ) -> tuple[ClusterView, ClusterView]:
        """Move ``ticket_ids`` out of a cluster into a cluster of their own (staff: "these
        are a different problem"); recorded. Returns (the rest, the moved part)."""
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            raise UnknownCluster(f"no cluster {cluster_id}")
        moved = tuple(dict.fromkeys(ticket_ids))
        members = set(cluster.members)
        strangers = [t for t in moved if t not in members]
        if strangers:
            raise InvalidCorrection(f"not in cluster {cluster_id}: {', '.join(strangers)}")
        rest = tuple(t for t in cluster.members if t not in set(moved))
        if not moved or not rest:
            raise InvalidCorrection("a split must leave tickets on both sides")
        self._constraints.apply(Correction("split", (rest, moved), actor, at))
        self._apart = self._constraints.apart_labels()
        self._retire([cluster_id])
        kept, split_off = self._rebuild_clusters([rest, moved])
        return self._view(kept), self._view(split_off)
