"""After 办结 (issue 17): 解决 and 满意 asked separately, the supervisor review, the 回访, and
repeat complaints linked to the first ticket — on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.tickets import IllegalTransition, TicketService
from tests.tickets.conftest import MakeService, MakeWorker, create_ticket
from tests.tickets.fakes import FakeBackend, FakeClock

OPENID = "oResident0000000000000001"


async def resolved(service: TicketService, **fields: str) -> str:
    ticket = await create_ticket(service, **fields)
    await service.status.transition(ticket.id, "in_progress", actor="staff:照明处")
    await service.status.transition(ticket.id, "resolved", note="已更换灯泡", actor="staff:照明处")
    return str(ticket.id)


async def test_not_solved_reopens_to_the_same_department_with_the_residents_words(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, backend)
    ticket_id = await resolved(service)  # resolved before its first delivery went out
    clock.advance(hours=1)

    reopened = await service.rating.answer_solved(
        ticket_id, False, "晚上还是不亮", openid=OPENID
    )
    assert reopened.status == "reopened" and reopened.solved is False
    assert reopened.level == "community" and reopened.department == "市政照明管理处"
    assert reopened.rating is None and reopened.generation == 2
    assert reopened.clock_started_at == clock.now and reopened.signed_at is None
    assert reopened.history[-1].note == (
        "群众反馈：问题没有解决（群众原话：晚上还是不亮）；重新交原部门办理"
    )
    await worker.run_once()
    assert [(c.idempotency_key, c.level) for c in backend.calls] == [
        (f"{ticket_id}:2", "community")
    ]

    # The next 办结 asks again.
    await service.status.transition(ticket_id, "resolved", note="已换线路", actor="staff:照明处")
    again = await service.queries.get(ticket_id)
    assert again.solved is None
    solved = await service.rating.answer_solved(ticket_id, True, openid=OPENID)
    assert solved.status == "resolved" and solved.solved is True
    with pytest.raises(IllegalTransition):
        await service.rating.answer_solved(ticket_id, False, openid=OPENID)
    closed = await service.rating.rate(ticket_id, "satisfied", openid=OPENID)
    assert closed.status == "closed" and closed.supervision is None


async def test_solved_but_unsatisfied_waits_for_a_supervisor(service: TicketService) -> None:
    ticket_id = await resolved(service)
    await service.rating.answer_solved(ticket_id, True, openid=OPENID)
    closed = await service.rating.rate(ticket_id, "unsatisfied", "拖了一周", openid=OPENID)
    assert closed.status == "closed" and closed.level == "community"
    assert closed.supervision == "pending"
    assert closed.history[-1].note == "评价：不满意（拖了一周）；转督办复核"

    done = await service.rating.supervise(ticket_id, "已约谈承办人", actor="staff:督办")
    assert done.supervision == "done" and done.history[-1].note == "督办复核：已约谈承办人"
    with pytest.raises(IllegalTransition):
        await service.rating.supervise(ticket_id, "再复核", actor="staff:督办")


async def test_follow_up_days_later_for_classes_that_come_back(
    make_service: MakeService, engine: AsyncEngine, clock: FakeClock
) -> None:
    service = make_service(engine, follow_up_days=14)
    lamp = await resolved(service)  # streetlights come back: asked again
    greenery = await resolved(service, category="report.greenery", location="和平公园东门")
    for ticket_id in (lamp, greenery):
        await service.rating.rate(ticket_id, "satisfied", openid=OPENID)
    closed = await service.queries.get(lamp)
    assert closed.follow_up == "due" and closed.follow_up_at == clock.now + timedelta(days=14)
    assert (await service.queries.get(greenery)).follow_up is None

    clock.advance(hours=24 * 13)
    assert await service.rating.send_follow_ups() == 0
    clock.advance(hours=25)
    before = len(await service.pushes.jobs())
    assert await service.rating.send_follow_ups() == 1
    assert await service.rating.send_follow_ups() == 0
    push = sorted(await service.pushes.jobs(), key=lambda p: p.id)[before:]
    assert len(push) == 1 and "问题有没有再出现" in push[0].text and lamp in push[0].text

    answered = await service.rating.answer_follow_up(lamp, True, "又不亮了", openid=OPENID)
    assert answered.follow_up == "recurred"
    assert answered.history[-1].note == (
        "回访：群众表示问题再次出现（群众原话：又不亮了），已重新立单"
    )
    with pytest.raises(IllegalTransition):
        await service.rating.answer_follow_up(lamp, False, openid=OPENID)


async def test_repeat_complaints_within_30_days_link_to_the_first(
    service: TicketService, clock: FakeClock
) -> None:
    first = await create_ticket(service, location="幸福小区3号楼东门")
    clock.advance(hours=24 * 5)
    second = await create_ticket(service, location="幸福小区3号楼门口")  # same estate
    third = await create_ticket(service, location="幸福小区", phone="13900000009",
                                openid="oSomebodyElse000000000000")  # another resident
    elsewhere = await create_ticket(service, location="人民路90号")
    other_kind = await create_ticket(service, category="report.garbage",
                                     location="幸福小区3号楼东门")
    assert first.repeat_of is None
    assert second.repeat_of == first.id
    assert second.history[0].note == (
        f"渠道：微信公众号；重复投诉：30天内同一群众在同一地点反映同类问题，首次工单{first.id}"
    )
    assert third.repeat_of is None and elsewhere.repeat_of is None
    assert other_kind.repeat_of is None
    clock.advance(hours=24 * 26)  # 31 days after the first, 26 after the second
    fourth = await create_ticket(service, location="幸福小区3号楼")
    assert fourth.repeat_of == first.id  # the chain's first, through the second
    clock.advance(hours=24 * 31)
    assert (await create_ticket(service, location="幸福小区")).repeat_of is None
