"""Status pushes to residents through the fake WeChat API, over real HTTP on loopback.

Every test runs on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.state import MemoryStore
from integrations.tickets import JobNotRetryable, TicketService
from integrations.wechat import RetryPolicy, WeChatClient
from integrations.wechat.fake_server import FakeWeChatAPI
from testing.servers import serve_wechat_fake
from tests.tickets.conftest import MakeService, MakeWorker, create_ticket
from tests.tickets.fakes import FakeBackend, FakeClock

APP_ID = "wx_tickets_test_01"
SECRET = "tickets-secret-never-logged"
OPENID = "oResident0000000000000001"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"


@pytest.fixture
def fake() -> FakeWeChatAPI:
    return FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET)


@pytest.fixture
def wechat_url(fake: FakeWeChatAPI) -> Iterator[str]:
    with serve_wechat_fake(fake) as url:
        yield url


@pytest.fixture
async def wechat(wechat_url: str) -> AsyncIterator[WeChatClient]:
    client = WeChatClient(
        app_id=APP_ID,
        app_secret=SECRET,
        base_url=wechat_url,
        store=MemoryStore(),
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        timeout=5.0,
    )
    yield client
    await client.aclose()


@pytest.fixture
def worker(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, wechat: WeChatClient
) -> Any:
    return make_worker(service, backend, messenger=wechat)


def texts(fake: FakeWeChatAPI) -> list[str]:
    return [call.json["text"]["content"] for call in fake.custom_messages]  # type: ignore[index]


async def test_push_inside_the_window_is_a_customer_service_text(
    service: TicketService, worker: Any, fake: FakeWeChatAPI
) -> None:
    ticket = await create_ticket(service)
    await service.windows.record_inbound(OPENID)
    await worker.run_once()  # delivers: received → dispatched queues a push
    await worker.run_once()  # sends it

    assert texts(fake) == [
        f"您反映的“路灯不亮/损坏”问题（工单号{ticket.id}）已派单至市政照明管理处，我们会尽快处理。"
    ]
    assert fake.custom_messages[0].json["touser"] == OPENID  # type: ignore[index]
    [push] = await service.pushes.jobs()
    assert (push.status, push.via, push.attempts) == ("sent", "custom", 1)
    assert fake.template_messages == []


async def test_a_failing_push_is_retried_and_arrives_once(
    service: TicketService, worker: Any, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)
    await service.windows.record_inbound(OPENID)
    fake.fail_next(2, path=CUSTOM, status=500)  # both tries of the client's first send
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")

    await worker.run_once()
    [push] = [p for p in await service.pushes.jobs() if p.ticket_status == "in_progress"]
    assert (push.status, push.attempts) == ("pending", 1)
    assert push.last_error is not None and "HTTP 500" in push.last_error
    assert texts(fake) == []

    clock.advance(1)  # the first backoff
    await worker.run_once()
    await worker.run_once()
    assert [t for t in texts(fake) if "正在处理中" in t] == [
        f"您反映的“路灯不亮/损坏”问题（工单号{ticket.id}）正在处理中，"
        "工作人员可能会与您电话联系，请保持电话畅通。"
    ]
    sent = {p.ticket_status: p for p in await service.pushes.jobs()}
    assert (sent["in_progress"].status, sent["in_progress"].attempts) == ("sent", 2)


async def test_window_closed_falls_back_to_the_template_at_once(
    service: TicketService, worker: Any, fake: FakeWeChatAPI
) -> None:
    ticket = await create_ticket(service)
    await service.windows.record_inbound(OPENID)  # we think the window is open …
    fake.window_closed.add(OPENID)  # … but WeChat answers 45015
    await service.status.transition(ticket.id, "resolved", note="已更换灯泡", actor="staff:王")

    await worker.run_once()

    assert [c.outcome for c in fake.calls_to(CUSTOM)] == ["errcode 45015"]
    [template] = fake.template_messages
    body = template.json
    assert isinstance(body, dict)
    assert body["touser"] == OPENID and body["template_id"] == "TPL-STATUS-1"
    assert {k: v["value"] for k, v in body["data"].items()} == {
        "first": "您反映的“路灯不亮/损坏”问题有新进展",
        "keyword1": ticket.id,
        "keyword2": "已办结",
        "remark": "问题解决了吗？请回复公众号：已解决 / 没解决。",
    }
    [push] = await service.pushes.jobs()
    assert (push.status, push.via, push.attempts) == ("sent", "template", 1)


async def test_outside_the_window_the_template_goes_directly(
    service: TicketService, worker: Any, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)
    await service.windows.record_inbound(OPENID)
    clock.advance(hours=48)  # the window has closed
    await worker.run_once()  # delivered: the "dispatched" push
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    await worker.run_once()

    assert fake.calls_to(CUSTOM) == []
    assert len(fake.template_messages) == 2  # dispatched, in progress
    assert {p.via for p in await service.pushes.jobs()} == {"template"}


async def test_customer_service_quota_per_window(
    service: TicketService, worker: Any, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    await service.windows.record_inbound(OPENID)
    tickets = [await create_ticket(service) for _ in range(2)]
    for ticket in tickets:  # 2 × (dispatched + in progress) = 4 pushes, quota 3
        await service.status.transition(ticket.id, "dispatched", actor="staff:王")
        await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    for _ in range(3):
        await worker.run_once()

    vias = [p.via for p in sorted(await service.pushes.jobs(), key=lambda p: p.id)]
    assert vias.count("custom") == 3 and vias.count("template") == 1

    clock.advance(60)
    await service.windows.record_inbound(OPENID)  # the resident writes again: a new window
    await service.status.transition(tickets[0].id, "resolved", note="已修复", actor="staff:王")
    await worker.run_once()
    latest = max(await service.pushes.jobs(), key=lambda p: p.id)
    assert latest.via == "custom"


async def test_pushes_of_one_ticket_keep_their_order(
    service: TicketService, worker: Any, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)
    await service.windows.record_inbound(OPENID)
    await service.status.transition(ticket.id, "dispatched", actor="staff:王")
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    fake.fail_next(2, path=CUSTOM, status=502)  # the first push fails once

    await worker.run_once()
    assert texts(fake) == []  # the second waits for the first
    clock.advance(1)
    await worker.run_once()
    await worker.run_once()
    assert ["已派单" in t for t in texts(fake)] == [True, False]
    assert "正在处理中" in texts(fake)[1]


async def test_nowhere_to_send_fails_visibly_and_can_be_requeued(
    engine: AsyncEngine,
    make_service: MakeService,
    backend: FakeBackend,
    make_worker: MakeWorker,
    wechat: WeChatClient,
    fake: FakeWeChatAPI,
) -> None:
    service = make_service(engine, template_status_id=None)
    worker = make_worker(service, backend, messenger=wechat)
    ticket = await create_ticket(service)  # the resident never wrote: no window
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    await worker.run_once()

    [failed] = await service.pushes.jobs("failed")
    assert failed.ticket_id == ticket.id and failed.attempts == 1
    assert failed.last_error is not None and "WECHAT_TEMPLATE_STATUS_ID" in failed.last_error
    assert fake.calls_to(CUSTOM) == [] and fake.calls_to(TEMPLATE) == []

    await service.windows.record_inbound(OPENID)
    requeued = await service.pushes.retry(failed.id)
    assert (requeued.status, requeued.attempts) == ("pending", 0)
    with pytest.raises(JobNotRetryable):
        await service.pushes.retry(failed.id)
    await worker.run_once()
    assert len(texts(fake)) == 1


async def test_push_failing_every_time_ends_failed_not_lost(
    service: TicketService, worker: Any, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)  # no inbound: template
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    fake.fail_next(100, path=TEMPLATE, status=503)
    for _ in range(service.config.push_max_attempts + 1):
        await worker.run_once()
        clock.advance(10)

    failed = await service.pushes.jobs("failed")
    # (staff started work before the delivery: no "dispatched" push, only this one)
    assert [p.ticket_status for p in failed] == ["in_progress"]
    assert all(p.attempts == service.config.push_max_attempts for p in failed)


async def test_unfollowed_resident_fails_at_once(
    service: TicketService, worker: Any, fake: FakeWeChatAPI
) -> None:
    ticket = await create_ticket(service)
    fake.fail_next(1, path=TEMPLATE, errcode=43004, errmsg="require subscribe")
    await service.status.transition(ticket.id, "dispatched", actor="staff:王")
    await worker.run_once()
    [push] = await service.pushes.jobs()
    assert (push.status, push.attempts) == ("failed", 1)
    assert push.last_error is not None and "43004" in push.last_error
