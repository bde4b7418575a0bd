"""The ticket store, on SQLite and on the real PostgreSQL (every test runs on both)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.db.models import Base, DispatchJobRow, PushJobRow, TimelineRow
from integrations.dispatch.embedded import EmbeddedDesk
from integrations.tickets import (
    IllegalTransition,
    InvalidTicket,
    Ticket,
    TicketFilter,
    TicketNotFound,
    TicketService,
)
from tests.tickets.conftest import MakeWorker, create_ticket
from tests.tickets.fakes import FakeBackend, FakeClock

OPENID = "oResident0000000000000001"
ID_18 = "11010519900307123X"
ID_15 = "110105900307123"


# -- schema ---------------------------------------------------------------------------------


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


# -- creating ------------------------------------------------------------------------------


async def test_create_writes_ticket_timeline_and_outbox_job_together(
    service: TicketService, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)

    assert ticket.id == "20261123-0001"  # 10:00 in Beijing on 23 November
    assert ticket.status == "received" and ticket.status_label == "已受理"
    assert ticket.department == "市政照明管理处"  # from the taxonomy
    assert ticket.level == "community"
    # Working time (policies/deadlines.py): 签收 within 2 working hours, 办结 within 3
    # working days — Thursday 26 November at 18:00 in Beijing.
    assert ticket.sign_due_at == clock.now + timedelta(hours=2)
    assert ticket.sla_due_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert ticket.urgent is False and ticket.channel == "wechat"
    assert [(e.actor, e.from_status, e.to_status) for e in ticket.history] == [
        (f"resident:{OPENID}", None, "received")
    ]
    assert ticket.delivery is not None
    assert ticket.delivery.status == "pending"
    assert ticket.delivery.idempotency_key == "20261123-0001:1"
    # The resident filed it in the conversation (which answered): no push for that.
    assert await service.pushes.jobs() == []
    assert (await service.queries.get(ticket.id)) == ticket


async def test_urgent_category_gets_the_urgent_deadline(
    service: TicketService, clock: FakeClock
) -> None:
    elevator = await create_ticket(service, category="report.elevator")
    manual = await create_ticket(service, category="report.garbage", urgent=True)

    # One working day: Tuesday 24 November at 18:00 in Beijing; 签收 within half an hour.
    tuesday_evening = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert elevator.urgent and elevator.sla_due_at == tuesday_evening
    assert manual.urgent and manual.sla_due_at == tuesday_evening
    assert manual.sign_due_at == clock.now + timedelta(minutes=30)


async def test_ids_count_per_local_day(service: TicketService, clock: FakeClock) -> None:
    first = await create_ticket(service)
    clock.advance(hours=13)  # 23:00 in Beijing, still the 23rd
    second = await create_ticket(service)
    clock.advance(hours=1)  # midnight in Beijing: a new day, a new counter
    third = await create_ticket(service)

    assert [first.id, second.id, third.id] == ["20261123-0001", "20261123-0002", "20261124-0001"]


async def test_fifty_concurrent_creates_get_fifty_distinct_ids(service: TicketService) -> None:
    tickets = await asyncio.gather(
        *(create_ticket(service, openid=f"oResident{i:016d}") for i in range(50))
    )

    ids = sorted(t.id for t in tickets)
    assert len(set(ids)) == 50
    assert ids == [f"20261123-{n:04d}" for n in range(1, 51)]
    assert all(re.fullmatch(r"\d{8}-\d{4}", i) for i in ids)
    assert len(await service.outbox.jobs("pending")) == 50


async def test_unique_ids_across_two_processes_worth_of_engines(
    db_url: str, engines: object, make_service: object, clock: FakeClock
) -> None:
    # Two engines = two connection pools, as two processes would have.
    assert callable(engines) and callable(make_service)
    first, second = make_service(engines(db_url)), make_service(engines(db_url))
    tickets = await asyncio.gather(
        *(create_ticket(s) for s in [first, second] * 10)
    )
    assert len({t.id for t in tickets}) == 20


async def test_one_ticket_per_source_key_even_from_two_processes_at_once(
    db_url: str, engines: object, make_service: object
) -> None:
    """A message processed twice (a retry after Redis lost its dedup keys, a deferred
    filing retried) files one ticket: the second call returns the first ticket."""
    assert callable(engines) and callable(make_service)
    first, second = make_service(engines(db_url)), make_service(engines(db_url))
    key = "wechat:oResident0000000000000001:msg:123456"
    tickets = await asyncio.gather(
        *(create_ticket(s, source_key=key) for s in [first, second] * 3)
    )
    assert len({t.id for t in tickets}) == 1
    assert len(await first.queries.list_tickets()) == 1
    other = await create_ticket(first, source_key=key.replace("123456", "123457"))
    assert other.id != tickets[0].id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"category": "faq.social.card"}, "unknown category"),
        ({"category": "report.nonsense"}, "unknown category"),
        ({"location": "  "}, "location is required"),
        ({"description": ""}, "description is required"),
        ({"channel": "pigeon"}, "unknown channel"),
    ],
)
async def test_invalid_tickets_are_refused(
    service: TicketService, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidTicket, match=message):
        await create_ticket(service, **fields)
    assert await service.queries.list_tickets() == []


async def test_id_card_numbers_are_never_stored(
    service: TicketService, engine: AsyncEngine
) -> None:
    ticket = await create_ticket(
        service,
        description=f"我的身份证号{ID_18}，老人的是{ID_15}，电话13800138000",
        location=f"幸福小区 {ID_18[:6]} {ID_18[6:14]} {ID_18[14:]} 号",
    )
    await service.status.transition(
        ticket.id, "in_progress", note=f"核实身份{ID_18}", actor="staff:李"
    )
    await service.status.transition(ticket.id, "resolved", note="已修复", actor="staff:李")
    await service.rating.rate(ticket.id, "unsatisfied", f"我的身份证{ID_15}没人理", openid=OPENID)

    stored = await service.queries.get(ticket.id)
    assert "110105********123X" in stored.description
    assert "110105*****7123" in stored.description  # 15 digits: 6 + 5 hidden + 4
    # The phone field is where staff find the number; the resident's words keep it masked.
    assert "电话138****8000" in stored.description
    assert "110105********123X" in stored.location
    assert stored.rating_reason is not None and "110105*****7123" in stored.rating_reason
    # Nowhere in any table, in any form.
    async with engine.connect() as conn:
        for table in ("tickets", "ticket_events", "push_jobs"):
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            dump = repr(rows)
            assert "19900307" not in dump and "900307" not in dump.replace("110105", ""), table


async def test_notes_never_keep_the_residents_phone_but_keep_an_office_number(
    service: TicketService, engine: AsyncEngine
) -> None:
    """Issue 13: staff notes (timeline, the resident's push) keep a number given to the
    resident, never the resident's own, in any spelling; the chat kept with a ticket has
    no phone or ID number whole whoever filed it."""
    chat = [{"at": "2026-11-23T10:00:00+08:00", "role": "resident", "text": "电话138 0013 8000"}]
    ticket = await create_ticket(service, chat=chat)
    await service.status.transition(
        ticket.id,
        "rejected",
        note="已电话联系居民138-0013-8000，此事请联系物业010-62345678",
        actor="staff:李",
    )
    stored = await service.queries.get(ticket.id)
    assert stored.phone == "13800138000"
    assert stored.chat[0]["text"] == "电话138****8000"
    assert stored.history[-1].note == "已电话联系居民138****8000，此事请联系物业010-62345678"
    [push] = [p for p in await service.pushes.jobs(None) if p.ticket_id == ticket.id][-1:]
    assert "010-62345678" in push.text and "13800138000" not in push.text.replace("-", "")
    async with engine.connect() as conn:
        for table in ("ticket_events", "push_jobs"):
            dump = repr((await conn.execute(text(f"SELECT * FROM {table}"))).all())
            assert "00138000" not in dump.replace("-", ""), table


# -- transitions ------------------------------------------------------------------------------


async def test_legal_path_to_closed_with_timeline(service: TicketService) -> None:
    ticket = await create_ticket(service)
    await service.status.transition(ticket.id, "dispatched", actor="dispatch:fake")
    await service.status.transition(ticket.id, "in_progress", note="工人已出发", actor="staff:王")
    await service.status.transition(ticket.id, "resolved", note="已更换灯泡", actor="staff:王")
    closed = await service.rating.rate(ticket.id, "satisfied", openid=OPENID)

    assert closed.status == "closed" and closed.status_label == "已评价"
    assert closed.rating == "satisfied" and closed.rating_reason is None
    assert [(e.from_status, e.to_status, e.actor) for e in closed.history] == [
        (None, "received", f"resident:{OPENID}"),
        ("received", "dispatched", "dispatch:fake"),
        ("dispatched", "in_progress", "staff:王"),
        ("in_progress", "resolved", "staff:王"),
        ("resolved", "closed", f"resident:{OPENID}"),
    ]
    assert closed.history[2].note == "工人已出发"
    assert closed.history[4].note == "评价：满意"


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "closed"),  # closing is the resident's rating
        ([], "reopened"),
        (["in_progress"], "dispatched"),
        (["resolved"], "in_progress"),
        (["rejected"], "in_progress"),  # final
        (["in_progress"], "in_progress"),
    ],
)
async def test_illegal_transitions_name_from_and_to(
    service: TicketService, path: list[str], target: str
) -> None:
    ticket = await create_ticket(service)
    for status in path:
        await service.status.transition(ticket.id, status, note="原因说明", actor="staff:王")
    before = await service.queries.get(ticket.id)

    with pytest.raises(IllegalTransition) as caught:
        await service.status.transition(ticket.id, target, note="x", actor="staff:王")

    assert caught.value.from_status == before.status
    assert caught.value.to_status == target
    assert before.status in str(caught.value) and target in str(caught.value)
    assert await service.queries.get(ticket.id) == before  # nothing written


async def test_staff_may_resolve_or_reject_from_any_open_status(service: TicketService) -> None:
    for path in ([], ["dispatched"], ["dispatched", "in_progress"]):
        for final in ("resolved", "rejected"):
            ticket = await create_ticket(service)
            for status in path:
                await service.status.transition(ticket.id, status, actor="staff:王")
            done = await service.status.transition(ticket.id, final, note="说明", actor="staff:王")
            assert done.status == final


async def test_rejection_needs_a_reason(service: TicketService) -> None:
    ticket = await create_ticket(service)
    with pytest.raises(InvalidTicket, match="needs a note"):
        await service.status.transition(ticket.id, "rejected", note="  ", actor="staff:王")
    with pytest.raises(InvalidTicket, match="unknown status"):
        await service.status.transition(ticket.id, "done", actor="staff:王")
    with pytest.raises(TicketNotFound):
        await service.status.transition("20261123-9999", "resolved", actor="staff:王")


async def test_finishing_a_ticket_cancels_its_undelivered_job(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker
) -> None:
    ticket = await create_ticket(service)
    await service.status.transition(ticket.id, "resolved", note="电话中已解答", actor="staff:王")

    assert (await service.queries.get(ticket.id)).delivery.status == "cancelled"  # type: ignore[union-attr]
    assert await make_worker(service, backend).run_once() == 0
    assert backend.calls == []


# -- rating loop -------------------------------------------------------------------------------


async def test_unsatisfied_rating_reopens_one_level_up_and_redispatches(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, backend)
    ticket = await create_ticket(service)
    await worker.run_once()
    await service.status.transition(ticket.id, "resolved", note="已修复", actor="staff:王")
    clock.advance(hours=1)

    reopened = await service.rating.rate(ticket.id, "unsatisfied", "灯还是不亮", openid=OPENID)

    assert reopened.status == "reopened"
    assert reopened.rating == "unsatisfied" and reopened.rating_reason == "灯还是不亮"
    assert reopened.level == "street"
    assert reopened.generation == 2
    # New clocks from the reopening (Monday 11:00): three working days, Thursday 18:00.
    assert reopened.sla_due_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert reopened.history[-1].note == "评价：不满意（灯还是不亮）；升级至街道级办理"
    assert reopened.delivery is not None
    assert reopened.delivery.idempotency_key == f"{ticket.id}:2"
    assert reopened.delivery.status == "pending"

    await worker.run_once()
    redispatched = await service.queries.get(ticket.id)
    assert redispatched.status == "dispatched"
    assert [c.idempotency_key for c in backend.calls] == [f"{ticket.id}:1", f"{ticket.id}:2"]
    assert [c.level for c in backend.calls] == ["community", "street"]
    assert redispatched.external_id == "EXT-2"


async def test_rating_rules(service: TicketService) -> None:
    ticket = await create_ticket(service)
    with pytest.raises(IllegalTransition, match="only a resolved ticket"):
        await service.rating.rate(ticket.id, "satisfied", openid=OPENID)
    await service.status.transition(ticket.id, "resolved", note="已修复", actor="staff:王")
    with pytest.raises(TicketNotFound):
        await service.rating.rate(ticket.id, "satisfied", openid="oSomebodyElse000000000000")
    with pytest.raises(InvalidTicket, match="unknown rating"):
        await service.rating.rate(ticket.id, "meh", openid=OPENID)
    basic = await service.rating.rate(ticket.id, "basically_satisfied", openid=OPENID)
    assert basic.status == "closed" and basic.rating == "basically_satisfied"


async def test_reopened_ticket_at_city_level_stays_at_city(service: TicketService) -> None:
    ticket = await create_ticket(service)
    for _ in range(4):
        await service.status.transition(ticket.id, "resolved", note="已处理", actor="staff:王")
        ticket = await service.rating.rate(ticket.id, "unsatisfied", "没解决", openid=OPENID)
        await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    assert ticket.level == "city"
    assert ticket.history[-1].note == "评价：不满意（没解决）；已在市级，由市级督办"


# -- lists and filters ---------------------------------------------------------------------------


async def test_filters_and_newest_first(service: TicketService, clock: FakeClock) -> None:
    a = await create_ticket(service, openid="oAAAA000000000000000000001")
    clock.advance(60)
    b = await create_ticket(service, category="report.elevator", openid=None, channel="phone")
    clock.advance(60)
    c = await create_ticket(service, category="report.garbage")
    await service.status.transition(c.id, "in_progress", actor="staff:王")

    def ids(where: TicketFilter | None = None, **page: int) -> Awaitable[list[Ticket]]:
        return service.queries.list_tickets(where, **page)

    assert [t.id for t in await ids()] == [c.id, b.id, a.id]
    assert [t.id for t in await ids(limit=1, offset=1)] == [b.id]
    assert [t.id for t in await ids(TicketFilter(openid=a.openid))] == [a.id]
    assert [t.id for t in await ids(TicketFilter(statuses=("in_progress",)))] == [c.id]
    assert [t.id for t in await ids(TicketFilter(category="report.elevator"))] == [b.id]
    assert [t.id for t in await ids(TicketFilter(urgent=True))] == [b.id]
    assert {t.id for t in await ids(TicketFilter(urgent=False))} == {a.id, c.id}
    overdue, on_time = TicketFilter(overdue=True), TicketFilter(overdue=False)
    assert await ids(overdue) == []

    # Past the elevator's one working day (Tuesday 18:00), within everyone else's three.
    clock.now = datetime(2026, 11, 24, 10, 1, tzinfo=UTC)
    assert [t.id for t in await ids(overdue)] == [b.id]
    clock.now = datetime(2026, 11, 26, 10, 1, tzinfo=UTC)  # Thursday 18:01
    assert {t.id for t in await ids(overdue)} == {a.id, b.id, c.id}
    await service.status.transition(a.id, "resolved", note="已修复", actor="staff:王")
    assert {t.id for t in await ids(overdue)} == {b.id, c.id}
    assert [t.id for t in await ids(on_time)] == [a.id]
    assert (await service.queries.get(a.id)).overdue(clock.now) is False
    with pytest.raises(InvalidTicket):
        await service.queries.list_tickets(TicketFilter(statuses=("bogus",)))


async def test_resident_view_and_last_phone(service: TicketService) -> None:
    first = await create_ticket(service, phone="13900000001")
    second = await create_ticket(service, phone="13900000002")
    await create_ticket(service, openid="oOther00000000000000000001", phone="13900000003")
    await service.status.transition(first.id, "resolved", note="已修复", actor="staff:王")
    await service.status.transition(second.id, "rejected", note="不属于受理范围", actor="staff:王")

    open_ones = await service.queries.list_for_resident(OPENID)
    assert [t.id for t in open_ones] == [first.id]  # resolved still waits for a rating
    assert len(await service.queries.list_for_resident(OPENID, open_only=False)) == 2
    assert await service.lookups.last_phone(OPENID) == "13900000002"
    assert await service.lookups.last_phone("oNobody000000000000000001") is None

    # The chat's lean read (a few columns, one statement) lists the same tickets in the same
    # order, with what the dialogue needs after 办结 (the 解决 answer, the 回访's state).
    def shown(t: Any) -> tuple[object, ...]:
        return (t.id, t.category, t.status, t.department, t.urgent, t.solved, t.follow_up)

    for open_only in (True, False):
        whole = await service.queries.list_for_resident(OPENID, open_only=open_only)
        lean = await service.lookups.tickets(OPENID, open_only=open_only)
        assert [shown(t) for t in whole] == [shown(t) for t in lean]


# -- pushes are queued with the change ----------------------------------------------------------


async def test_status_changes_queue_polite_pushes(service: TicketService) -> None:
    ticket = await create_ticket(service)
    await service.status.transition(ticket.id, "dispatched", actor="dispatch:fake")
    await service.status.transition(ticket.id, "resolved", note="已更换灯泡。", actor="staff:王")
    await service.rating.rate(ticket.id, "satisfied", openid=OPENID)  # the resident's own: no push

    pushes = sorted(await service.pushes.jobs(), key=lambda p: p.id)
    assert [(p.ticket_status, p.status, p.openid) for p in pushes] == [
        ("dispatched", "pending", OPENID),
        ("resolved", "pending", OPENID),
    ]
    assert pushes[0].text == (
        f"您反映的“路灯不亮/损坏”问题（工单号{ticket.id}）已派单至市政照明管理处，我们会尽快处理。"
    )
    assert pushes[1].text.endswith(
        "处理结果：已更换灯泡。请问问题解决了吗？请回复：已解决 / 没解决"
    )


async def test_walk_in_without_openid_gets_no_push(service: TicketService) -> None:
    ticket = await create_ticket(service, openid=None, channel="walk_in", actor="staff:王")
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    assert await service.pushes.jobs() == []
    staff_entered = await create_ticket(service, channel="phone", actor="staff:王")
    assert [p.ticket_status for p in await service.pushes.jobs()] == ["received"]
    assert staff_entered.history[0].actor == "staff:王"


async def test_push_job_rolls_back_with_a_refused_change(
    service: TicketService, engine: AsyncEngine
) -> None:
    ticket = await create_ticket(service)
    with pytest.raises(IllegalTransition):
        await service.status.transition(ticket.id, "closed", actor="staff:王")
    async with engine.connect() as conn:
        assert (await conn.execute(select(PushJobRow.id))).all() == []
        events = (await conn.execute(select(TimelineRow.id))).all()
    assert len(events) == 1


# -- escalation (embedded desk) ----------------------------------------------------------------


async def test_overdue_tickets_at_the_desk_escalate_once_per_deadline(
    service: TicketService, desk: EmbeddedDesk, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, desk)
    # 办结 within one working day: Tuesday 24 November, 18:00 in Beijing.
    ticket = await create_ticket(service, category="report.elevator")
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).status == "dispatched"

    clock.now = datetime(2026, 11, 24, 9, 59, tzinfo=UTC)
    assert await service.escalation.escalate_overdue() == 0
    clock.now = datetime(2026, 11, 24, 10, 1, tzinfo=UTC)
    overdue = service.escalation.escalate_overdue
    assert await asyncio.gather(overdue(), overdue()) in (
        [1, 0],
        [0, 1],
    )
    escalated = await service.queries.get(ticket.id)
    assert escalated.level == "street"
    # One working day again, counted from the escalation: Wednesday at 18:00.
    assert escalated.sla_due_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert escalated.status == "dispatched"
    last = escalated.history[-1]
    assert (last.actor, last.from_status, last.to_status) == ("system", "dispatched", "dispatched")
    assert last.note is not None and last.note.endswith("升级至街道级办理")
    assert await service.escalation.escalate_overdue() == 0

    clock.now = datetime(2026, 11, 25, 10, 1, tzinfo=UTC)
    await service.escalation.escalate_overdue()
    assert (await service.queries.get(ticket.id)).level == "district"


async def test_department_return_waits_for_review_then_reroutes_or_goes_back(
    service: TicketService, desk: EmbeddedDesk, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, desk)
    ticket = await create_ticket(service)
    await worker.run_once()
    await service.status.transition(ticket.id, "in_progress", actor="staff:照明处")
    clock.advance(30 * 60)
    told = len(await service.pushes.jobs())  # dispatched, in progress

    returned = await service.returns.department_return(
        ticket.id, "不属于路灯管理范围，是小区自建灯", actor="staff:照明处",
        suggested_department="住建局物业科",
    )
    assert returned.status == "returned" and returned.level == "community"
    assert returned.department == "市政照明管理处" and returned.generation == 1
    assert returned.history[-1].note == (
        "市政照明管理处退单：不属于路灯管理范围，是小区自建灯（建议改派住建局物业科）；等待审定"
    )
    assert len(await service.pushes.jobs()) == told  # nothing changed for the resident yet
    [pending] = await service.returns.pending()
    assert (pending.ticket_id, pending.from_department) == (ticket.id, "市政照明管理处")
    with pytest.raises(IllegalTransition):
        await service.returns.department_return(ticket.id, "再退", actor="staff:照明处")
    with pytest.raises(IllegalTransition):  # only the review dispatches it again
        await service.status.transition(ticket.id, "dispatched", actor="staff:王")
    with pytest.raises(InvalidTicket):
        await service.returns.review(ticket.id, "reroute", actor="staff:审定")

    rerouted = await service.returns.review(
        ticket.id, "reroute", actor="staff:审定", department="住建局物业科",
        category="report.property_dispute", note="小区自建路灯由物业维护",
    )
    assert rerouted.status == "dispatched" and rerouted.generation == 2
    assert rerouted.department == "住建局物业科" and rerouted.category == "report.property_dispute"
    assert rerouted.clock_started_at == clock.now and rerouted.signed_at is None
    assert rerouted.history[-1].note is not None
    assert rerouted.history[-1].note.startswith("审定：改派住建局物业科办理（原市政照明管理处）")
    pushes = sorted(await service.pushes.jobs(), key=lambda p: p.id)
    assert len(pushes) == told + 1 and "已改由住建局物业科办理" in pushes[-1].text
    [decided] = await service.returns.decided()
    assert (decided.status, decided.to_department) == ("rerouted", "住建局物业科")
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).external_id == f"DESK-{ticket.id}-2"

    # The second department returns it too; the review sends it back: it is theirs.
    await service.returns.department_return(ticket.id, "应由照明处负责", actor="staff:物业科")
    back = await service.returns.review(ticket.id, "send_back", actor="staff:审定", note="已核实")
    assert back.status == "dispatched" and back.department == "住建局物业科"
    assert back.history[-1].note == "审定：退单不成立，仍由住建局物业科办理（已核实）"
    assert len(await service.pushes.jobs()) == told + 1  # sent back: the resident is not told
    counts = {c.department: c for c in await service.returns.bounce_counts()}
    assert (counts["市政照明管理处"].returned, counts["市政照明管理处"].upheld) == (1, 1)
    assert (counts["住建局物业科"].returned, counts["住建局物业科"].sent_back) == (1, 1)
    with pytest.raises(InvalidTicket):
        await service.returns.department_return(ticket.id, " ", actor="staff:物业科")


# -- reports from dispatch systems ----------------------------------------------------------------


async def test_external_statuses_apply_when_legal_and_are_ignored_otherwise(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker
) -> None:
    worker = make_worker(service, backend)
    ticket = await create_ticket(service)
    await worker.run_once()
    actor = "dispatch:open311"
    report = service.reports.apply_external_status

    assert await report(None, "EXT-1", "in_progress", "已派工", actor)
    assert await report(ticket.id, None, "in_progress", None, actor)
    assert await report(None, "EXT-1", "dispatched", None, actor)  # stale
    assert await report(None, "EXT-1", "closed", "已修复", actor)
    assert not await report(None, "EXT-404", "resolved", None, actor)
    assert not await report("20261123-9999", None, "resolved", None, actor)

    after = await service.queries.get(ticket.id)
    assert after.status == "resolved"  # "closed" downstream: resolved, the rating is ours
    assert [(e.from_status, e.to_status) for e in after.history][-2:] == [
        ("dispatched", "in_progress"),
        ("in_progress", "resolved"),
    ]


async def test_rejection_downstream_is_a_department_return(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker
) -> None:
    worker = make_worker(service, backend)
    ticket = await create_ticket(service)
    await worker.run_once()

    assert await service.reports.apply_external_status(None, "EXT-1", "rejected", "非本单位职责",
                                               "dispatch:open311")
    returned = await service.queries.get(ticket.id)
    assert returned.status == "returned" and returned.level == "community"
    await service.returns.review(ticket.id, "reroute", department="区城管委", actor="staff:审定")
    await worker.run_once()
    assert [c.idempotency_key for c in backend.calls] == [f"{ticket.id}:1", f"{ticket.id}:2"]
    # News about the first dispatch's id is stale now.
    report = service.reports.apply_external_status
    assert await report(None, "EXT-1", "resolved", None, "dispatch:x")
    assert (await service.queries.get(ticket.id)).status == "dispatched"


# -- residents -----------------------------------------------------------------------------------


async def test_record_inbound_keeps_the_latest_time(
    service: TicketService, engine: AsyncEngine, clock: FakeClock
) -> None:
    later = clock.now + timedelta(minutes=5)
    await service.windows.record_inbound(OPENID, later)
    await service.windows.record_inbound(OPENID, clock.now)  # processed out of order
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT last_inbound_at, cs_sent FROM residents"))).one()
    assert row.cs_sent == 0
    stored = row.last_inbound_at
    assert str(stored).startswith("2026-11-23 02:05:00")


async def test_job_rows_carry_one_key_per_generation(
    service: TicketService, engine: AsyncEngine
) -> None:
    ticket = await create_ticket(service)
    async with engine.connect() as conn:
        keys = (await conn.execute(select(DispatchJobRow.idempotency_key))).scalars().all()
    assert keys == [f"{ticket.id}:1"]


async def test_photos_are_kept_in_order(service: TicketService) -> None:
    ticket = await create_ticket(service, photos=["media-1", " https://x/2.jpg ", ""])
    assert ticket.photos == ("media-1", "https://x/2.jpg")
    single = await create_ticket(service, photos="media-9")
    assert (await service.queries.get(single.id)).photos == ("media-9",)
    with pytest.raises(InvalidTicket, match="at most 9"):
        await create_ticket(service, photos=[f"m{i}" for i in range(10)])
