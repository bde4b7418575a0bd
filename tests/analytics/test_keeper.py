"""Problem clusters kept in the database: tickets filed through the ticket service are
assigned by the keeper (SQLite and the real PostgreSQL), street and community are set at
filing, facts come from the timeline, merges and splits are stored, audited and replayed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from integrations.analytics.keeper import ClusterKeeper
from integrations.analytics.service import Analytics
from integrations.db.models import AuditRow, ClusterCorrectionRow, ClusterRow
from integrations.tickets import TicketService
from tests.tickets.fakes import FakeClock

MANHOLE = [
    ("解放路与中山街路口", "井盖没了，晚上很危险"),
    ("中山街解放路口东侧", "路口的井盖丢了好几天了，晚上看不见"),
    ("解放路中山街交叉口北侧", "井盖缺失，有人差点掉进去"),
]


async def file(service: TicketService, n: int, location: str, description: str, **kw: Any) -> str:
    values: dict[str, Any] = {
        "category": "report.manhole",
        "description": description,
        "location": location,
        "phone": f"1380013{n:04d}",
        "openid": f"oResident{n:04d}",
    }
    values.update(kw)
    return (await service.filing.file(**values)).id


async def test_the_same_problem_in_other_words_joins_one_cluster(
    service: TicketService, analytics: Analytics, clock: FakeClock
) -> None:
    ids = []
    for n, (location, description) in enumerate(MANHOLE):
        ids.append(await file(service, n, location, description))
        clock.advance(hours=3)
    # A different problem at the same crossing stays apart.
    lamp = await file(
        service, 9, "解放路与中山街路口", "路灯不亮，一到晚上黑漆漆的",
        category="report.streetlight",
    )
    keeper = analytics.keeper
    await keeper.start()
    assert keeper.writer  # the only keeper: it holds the lease
    mapping = await analytics.store.assignments()
    assert mapping[ids[0]] == mapping[ids[1]] == mapping[ids[2]] == ids[0]
    assert mapping[lamp] == lamp

    # Filed later: assigned incrementally by sync, written at once.
    clock.advance(hours=2)
    fourth = await file(service, 4, "解放路和中山街十字路口", "井盖不见了好危险")
    assert await keeper.sync() == 1
    assert (await analytics.store.assignments([fourth]))[fourth] == ids[0]
    async with service.core.read() as session:
        summary = await session.get(ClusterRow, ids[0])
    assert summary is not None and (summary.size, summary.residents) == (4, 4)
    assert summary.category == "report.manhole"


async def test_street_and_community_are_set_at_filing(service: TicketService) -> None:
    ticket = await service.filing.file(
        category="report.streetlight",
        description="路灯坏了",
        location="幸福小区3号楼东门",
        phone="13800138000",
    )
    assert (ticket.street, ticket.community) == ("东城街道", "幸福社区")  # the grid rules
    named = await service.filing.file(
        category="report.streetlight",
        description="路灯坏了",
        location="西城街道光明社区文化站门口",
        phone="13800138000",
    )
    assert (named.street, named.community) == ("西城街道", "光明社区")  # the words say so
    unknown = await service.filing.file(
        category="report.streetlight", description="路灯坏了", location="某某大厦", phone="1"
    )
    assert (unknown.street, unknown.community) == (None, None)


async def test_facts_come_from_the_timeline(
    service: TicketService, analytics: Analytics, clock: FakeClock
) -> None:
    ticket_id = await file(service, 1, *MANHOLE[0])
    filed = clock.now
    clock.advance(hours=2)
    await service.status.transition(ticket_id, "dispatched", actor="system")
    clock.advance(hours=3)
    await service.status.transition(ticket_id, "in_progress", actor="staff:王")
    signed = clock.now
    clock.advance(hours=5)
    await service.status.transition(ticket_id, "resolved", note="已补装井盖", actor="staff:王")
    clock.advance(hours=1)
    await service.rating.rate(ticket_id, "unsatisfied", "还是有点晃")
    clock.advance(hours=1)
    await service.status.transition(ticket_id, "resolved", note="已更换", actor="staff:王")
    resolved = clock.now
    (fact,) = await analytics.store.facts(ids=[ticket_id])
    assert fact.created_at == filed and fact.signed_at == signed
    assert fact.resolved_at == resolved and fact.reopened == 1
    assert fact.status == "resolved" and fact.rating == "unsatisfied"
    assert fact.openid == "oResident0001"
    assert fact.due_at is not None and fact.due_at > filed  # the first deadline
    # A hotline ticket without openid: a stable key of the phone number.
    hotline = await file(service, 2, *MANHOLE[1], openid=None, channel="phone")
    again = await file(service, 3, *MANHOLE[2], openid=None, channel="phone", phone="13800130002")
    facts = {f.id: f for f in await analytics.store.facts(ids=[hotline, again])}
    assert facts[hotline].openid == facts[again].openid
    assert str(facts[hotline].openid).startswith("tel:")


async def test_merge_and_split_are_stored_audited_and_replayed(
    service: TicketService, analytics: Analytics, clock: FakeClock
) -> None:
    a = await file(service, 1, "幸福小区3号楼", "楼道灯坏了", category="report.streetlight")
    clock.advance(hours=1)
    b = await file(service, 2, "幸福小区3号楼", "楼道灯一直不亮", category="report.streetlight")
    clock.advance(hours=1)
    c = await file(service, 3, "和平小区", "路灯不亮", category="report.streetlight")
    keeper = analytics.keeper
    await keeper.start()
    assert keeper.cluster_of(a) == keeper.cluster_of(b) == a
    assert keeper.cluster_of(c) == c

    # Staff: b is another lamp (split); c is the same problem as a (merge).
    kept, moved = await keeper.split(a, [b], actor="li.admin", ip="10.0.0.9")
    assert (kept.ticket_ids, moved.ticket_ids) == ((a,), (b,))
    merged = await keeper.merge([a, c], actor="li.admin")
    assert set(merged.ticket_ids) == {a, c}
    mapping = await analytics.store.assignments()
    assert mapping[a] == mapping[c] == a and mapping[b] == b
    async with service.core.read() as session:
        corrections = list((await session.execute(select(ClusterCorrectionRow))).scalars())
        audit = list(
            (await session.execute(select(AuditRow).order_by(AuditRow.id))).scalars()
        )
    assert [r.kind for r in corrections] == ["split", "merge"]
    assert [(e.actor, e.action, e.ip) for e in audit] == [
        ("li.admin", "cluster.split", "10.0.0.9"),
        ("li.admin", "cluster.merge", None),
    ]

    # Another keeper (a restart, or another process) rebuilds with the corrections.
    fresh = ClusterKeeper(analytics.store, may_write=False)
    await fresh.start()
    assert not fresh.writer
    assert fresh.cluster_of(a) == fresh.cluster_of(c) == a and fresh.cluster_of(b) == b


async def test_a_followers_words_are_erased_on_request(
    service: TicketService, analytics: Analytics
) -> None:
    from integrations.retention import ERASED, purge_resident
    from integrations.state import MemoryStore

    ticket_id = await file(service, 1, *MANHOLE[0])
    assert await analytics.store.follow(
        ticket_id, "oFollower", description="井盖没了 13800138000", location="路口"
    )
    assert not await analytics.store.follow(
        ticket_id, "oFollower", description="again", location="again"
    )
    (kept,) = await analytics.store.followers([ticket_id])
    assert "13800138000" not in kept.description  # redacted like a ticket's words
    await purge_resident(service.engine, MemoryStore(), "oFollower", tickets=True)
    (follower,) = await analytics.store.followers([ticket_id])
    assert (follower.description, follower.location) == (ERASED, ERASED)


async def test_nearby_finds_an_open_problem_only_while_it_is_worked_on(
    service: TicketService, analytics: Analytics, clock: FakeClock
) -> None:
    from dataclasses import replace

    from integrations.analytics.facts import TicketFact

    first = await file(service, 1, *MANHOLE[0])
    clock.advance(hours=1)
    second = await file(service, 2, *MANHOLE[1])
    await analytics.keeper.start()

    def case(openid: str) -> TicketFact:
        return TicketFact(
            id="case", openid=openid, category="report.manhole", department="",
            street=None, community=None, location="解放路中山街交叉口北侧",
            description="路口井盖没了", latitude=None, longitude=None,
            created_at=clock.now + timedelta(hours=1),
        )

    found = await analytics.keeper.nearby(case("oSomeoneElse"))
    assert found is not None
    assert (found.cluster_id, found.ticket_id, found.residents, found.mine) == (
        first, first, 2, False,
    )
    mine = await analytics.keeper.nearby(case("oResident0002"))
    assert mine is not None and mine.mine and mine.residents == 1
    # A different problem at the place: nothing.
    lamp = replace(case("oSomeoneElse"), category="report.streetlight", description="路灯不亮")
    assert await analytics.keeper.nearby(lamp) is None
    for ticket_id in (first, second):
        await service.status.transition(ticket_id, "resolved", note="已补装", actor="staff:王")
    assert await analytics.keeper.nearby(case("oSomeoneElse")) is None


async def test_the_facts_cache_follows_every_change(
    service: TicketService, analytics: Analytics, clock: FakeClock
) -> None:
    first = await file(service, 1, *MANHOLE[0])
    await analytics.keeper.start()  # loads the cache
    cache = analytics.facts
    assert cache.loaded and [f.id for f in await cache.all()] == [first]

    clock.advance(hours=1)
    await service.status.transition(first, "in_progress", actor="staff:王")
    clock.advance(hours=1)
    second = await file(service, 2, *MANHOLE[1])
    clock.advance(hours=1)
    await service.status.transition(first, "resolved", note="已补装", actor="staff:王")
    await service.rating.rate(first, "unsatisfied", "还晃")

    cached = await cache.all()
    fresh = await analytics.store.facts()
    assert cached == fresh and [f.id for f in cached] == [first, second]
    assert cached[0].status == "reopened" and cached[0].reopened == 1
    assert await cache.refresh() == 0  # nothing new: nothing re-read
    window = await cache.between(clock.now - timedelta(hours=1.5), None)
    assert [f.id for f in window] == [second]
