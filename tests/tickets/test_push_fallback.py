"""Pushes that arrive (issue 17): the fallback chain customer service → template →
subscription message → SMS hook, against the fake WeChat API and a real SMS hook receiver,
both over HTTP on loopback; each push's fate on the ticket; no second send on retries.

Every test runs on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.api.tickets import create_tickets_router
from integrations.accounts import AuditLog
from integrations.notify.sender import PushSender
from integrations.state import MemoryStore
from integrations.tickets import TicketService
from integrations.wechat import RetryPolicy, WeChatClient
from integrations.wechat.fake_server import FakeWeChatAPI
from testing.servers import serve_asgi, serve_wechat_fake
from tests.tickets.conftest import MakeService, create_ticket
from tests.tickets.fakes import FakeClock

APP_ID = "wx_push_fallback_01"
SECRET = "push-fallback-secret-never-logged"
OPENID = "oResident0000000000000001"
PHONE = "13800138000"
TEMPLATE_ID = "TPL-STATUS-1"
SUBSCRIBE_ID = "SUB-STATUS-1"
HOOK_SECRET = "sms-hook-secret-0123456789"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
SUBSCRIBE = "/cgi-bin/message/subscribe/bizsend"
ADMIN = "admin-token-for-push-fallback"


@dataclass
class SmsGateway:
    """The operator's SMS gateway behind the hook: records what it gets, answers
    ``statuses`` in turn (then 200)."""

    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> JSONResponse:
        body = await request.body()
        with self.lock:
            self.received.append(json.loads(body))
            self.headers.append({**dict(request.headers), "_body": body.decode()})
            status = self.statuses.pop(0) if self.statuses else 200
        return JSONResponse({"ok": status < 300}, status_code=status)


@pytest.fixture
def fake() -> FakeWeChatAPI:
    return FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET)


@pytest.fixture
def wechat_url(fake: FakeWeChatAPI) -> Iterator[str]:
    with serve_wechat_fake(fake) as url:
        yield url


@pytest.fixture
def gateway() -> SmsGateway:
    return SmsGateway()


@pytest.fixture
def hook_url(gateway: SmsGateway) -> Iterator[str]:
    app = Starlette(routes=[Route("/sms", gateway.endpoint, methods=["POST"])])
    with serve_asgi(app, lifespan="off", name="sms-gateway") as url:
        yield f"{url}/sms"


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
def service(engine: AsyncEngine, make_service: MakeService, hook_url: str) -> TicketService:
    """Every channel configured: template, subscription message, SMS hook."""
    return make_service(
        engine,
        subscription_template_id=SUBSCRIBE_ID,
        sms_hook_url=hook_url,
        sms_hook_secret=HOOK_SECRET,
    )


def sender(service: TicketService, wechat: WeChatClient, worker_id: str = "push-a") -> PushSender:
    return PushSender(service.core, wechat, worker_id=worker_id, rand=lambda: 0.5)


async def ticket_in_progress(service: TicketService) -> str:
    """A ticket whose one push ("正在处理中") is queued; the resident never wrote (no
    window), so customer service is skipped unless a test records a message."""
    ticket = await create_ticket(service, phone=PHONE)
    await service.status.transition(ticket.id, "in_progress", actor="staff:王")
    return str(ticket.id)


async def fates(service: TicketService, ticket_id: str) -> list[Any]:
    return await service.pushes.of_ticket(ticket_id)


def steps(fate: Any) -> list[tuple[str, str, int | None]]:
    return [(a.channel, a.outcome, a.errcode) for a in fate.attempts]


async def test_customer_service_refused_then_the_template_delivers(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI
) -> None:
    ticket_id = await ticket_in_progress(service)
    await service.windows.record_inbound(OPENID)  # we think the window is open …
    fake.window_closed.add(OPENID)  # … WeChat answers 45015

    await sender(service, wechat).run_once()

    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via) == ("sent", "template")
    assert steps(fate) == [("custom", "refused", 45015), ("template", "delivered", None)]
    assert [c.outcome for c in fake.calls_to(CUSTOM)] == ["errcode 45015"]
    assert len(fake.template_messages) == 1 and fake.calls_to(SUBSCRIBE) == []


async def test_template_refused_then_the_subscription_message_with_consent(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI
) -> None:
    ticket_id = await ticket_in_progress(service)
    fake.template_refused.add(OPENID)  # 43101: the resident refuses template messages
    fake.subscriptions[(OPENID, SUBSCRIBE_ID)] = 1  # WeChat's side of the consent …
    await service.consents.grant(OPENID, SUBSCRIBE_ID, kind="one_time")  # … and ours

    await sender(service, wechat).run_once()

    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via) == ("sent", "subscription")
    assert steps(fate) == [
        ("custom", "skipped", None),
        ("template", "refused", 43101),
        ("subscription", "delivered", None),
    ]
    [message] = fake.subscription_messages
    body = message.json
    assert body["touser"] == OPENID and body["template_id"] == SUBSCRIBE_ID
    data = {key: value["value"] for key, value in body["data"].items()}
    assert data["character_string1"] == ticket_id
    assert data["phrase2"] == "处理中"
    assert len(data["thing3"]) <= 20  # WeChat refuses a longer thing value
    # A one-time consent is used up by the send.
    assert await service.consents.of(OPENID) == []


async def test_one_time_consent_is_used_once_long_term_is_kept(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, gateway: SmsGateway,
    clock: FakeClock,
) -> None:
    fake.template_refused.add(OPENID)
    fake.subscriptions[(OPENID, SUBSCRIBE_ID)] = None  # WeChat would take any number …
    await service.consents.grant(OPENID, SUBSCRIBE_ID, kind="one_time")  # … we hold one
    first = await ticket_in_progress(service)
    second = await ticket_in_progress(service)
    worker = sender(service, wechat)

    await worker.run_once()

    vias = {t: (await fates(service, t))[0].push.via for t in (first, second)}
    assert sorted(vias.values()) == ["sms", "subscription"]
    assert len(fake.subscription_messages) == 1  # the consent allowed one send
    assert len(gateway.received) == 1

    # A long-term consent (长期订阅) stays after each send.
    await service.consents.grant(OPENID, SUBSCRIBE_ID, kind="long_term")
    for ticket_id in (first, second):
        await service.status.transition(ticket_id, "resolved", note="已修复", actor="staff:王")
    await worker.run_once()
    assert len(fake.subscription_messages) == 3
    [consent] = await service.consents.of(OPENID)
    assert consent.kind == "long_term"


async def test_without_consent_the_sms_hook_gets_it(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, gateway: SmsGateway
) -> None:
    ticket_id = await ticket_in_progress(service)
    fake.template_refused.add(OPENID)

    await sender(service, wechat).run_once()

    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via) == ("sent", "sms")
    assert steps(fate) == [
        ("custom", "skipped", None),
        ("template", "refused", 43101),
        ("subscription", "skipped", None),
        ("sms", "delivered", None),
    ]
    assert fake.calls_to(SUBSCRIBE) == []  # no consent on record: WeChat is not asked
    [sms] = gateway.received
    assert sms["phone"] == PHONE and sms["ticket_id"] == ticket_id
    assert sms["idempotency_key"] == f"intake-push-{fate.push.id}"
    assert "正在处理中" in sms["text"]
    [headers] = gateway.headers
    expected = hmac.new(HOOK_SECRET.encode(), headers["_body"].encode(), hashlib.sha256)
    assert headers["x-intake-signature"] == f"sha256={expected.hexdigest()}"
    assert headers["idempotency-key"] == sms["idempotency_key"]


async def test_an_sms_of_the_resolved_push_says_to_answer_in_the_official_account(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, gateway: SmsGateway
) -> None:
    ticket_id = await ticket_in_progress(service)
    fake.template_refused.add(OPENID)
    await sender(service, wechat).run_once()
    await service.status.transition(ticket_id, "resolved", note="已更换灯泡", actor="staff:王")
    await sender(service, wechat).run_once()

    resolved = [sms["text"] for sms in gateway.received if sms["ticket_status"] == "resolved"]
    assert len(resolved) == 1 and "请在公众号中回复：已解决 / 没解决" in resolved[0], resolved


async def test_wechat_refusing_the_subscription_drops_our_consent_and_falls_to_sms(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, gateway: SmsGateway
) -> None:
    ticket_id = await ticket_in_progress(service)
    fake.template_refused.add(OPENID)
    # We recorded a consent, but the resident turned it off in WeChat's settings since.
    await service.consents.grant(OPENID, SUBSCRIBE_ID, kind="long_term")

    await sender(service, wechat).run_once()

    [fate] = await fates(service, ticket_id)
    assert steps(fate)[2:] == [("subscription", "refused", 43101), ("sms", "delivered", None)]
    assert await service.consents.of(OPENID) == []
    assert len(gateway.received) == 1


async def test_everything_refused_is_undelivered_and_visible_on_the_ticket(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, gateway: SmsGateway
) -> None:
    ticket_id = await ticket_in_progress(service)
    await service.windows.record_inbound(OPENID)
    fake.window_closed.add(OPENID)
    fake.template_refused.add(OPENID)
    await service.consents.grant(OPENID, SUBSCRIBE_ID)  # WeChat has none: 43101
    gateway.statuses = [400]  # the gateway refuses (say, a number it cannot reach)

    await sender(service, wechat).run_once()

    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via, fate.push.attempts) == ("failed", None, 1)
    assert steps(fate) == [
        ("custom", "refused", 45015),
        ("template", "refused", 43101),
        ("subscription", "refused", 43101),
        ("sms", "refused", None),
    ]
    assert fate.push.last_error is not None
    assert "45015" in fate.push.last_error and "HTTP 400" in fate.push.last_error
    ticket = await service.queries.get(ticket_id)
    note = ticket.history[-1].note or ""
    assert "“处理中”通知未能送达群众" in note and "请电话告知" in note
    assert "客服消息：被拒收（错误码45015）" in note and "短信：被拒收" in note

    # The staff API shows the same fate with the ticket.
    app = _api_app(service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api",
        headers={"Authorization": f"Bearer {ADMIN}"},
    ) as client:
        answer = (await client.get(f"/api/tickets/{ticket_id}")).json()
    [push] = answer["pushes"]
    assert (push["fate"], push["via"], push["ticket_status"]) == (
        "undelivered", None, "in_progress")
    assert [(s["channel"], s["outcome"], s["errcode"]) for s in push["steps"]] == [
        ("custom", "refused", 45015),
        ("template", "refused", 43101),
        ("subscription", "refused", 43101),
        ("sms", "refused", None),
    ]

    # Nothing goes out again by itself.
    calls = len(fake.calls)
    await sender(service, wechat).run_once()
    assert len(fake.calls) == calls and len(gateway.received) == 1


def _api_app(service: TicketService) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(
        create_tickets_router(service, admin_token=ADMIN, audit_log=AuditLog(service.engine))
    )
    return app


async def test_delivered_push_is_not_sent_again_when_recording_failed(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker sent the push, then the database failed as it recorded that: the push is
    neither sent again by this worker's retry nor by another worker once the lease ran out."""
    ticket_id = await ticket_in_progress(service)
    await service.windows.record_inbound(OPENID)
    worker = sender(service, wechat, "push-a")
    real_record = PushSender._record
    failures = iter([True])

    async def flaky_record(self: PushSender, results: Any) -> None:
        if self is worker and next(failures, False):
            raise OperationalError("UPDATE push_jobs", {}, Exception("connection reset"))
        await real_record(self, results)

    monkeypatch.setattr(PushSender, "_record", flaky_record)
    await worker.run_once()  # sent; recording fails
    assert len(fake.custom_messages) == 1
    [fate] = await fates(service, ticket_id)
    assert fate.push.status == "pending"

    # The lease runs out; another worker comes first: it must not send again.
    clock.advance(service.config.lease_seconds + 1)
    other = sender(service, wechat, "push-b")
    await other.run_once()
    assert len(fake.custom_messages) == 1 and len(fake.template_messages) == 0

    # The first worker's retry records what it sent, and sends nothing either.
    await worker.run_once()
    assert len(fake.custom_messages) == 1 and len(fake.template_messages) == 0
    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via) == ("sent", "custom")
    assert steps(fate) == [("custom", "delivered", None)]
    notes = [e.note or "" for e in (await service.queries.get(ticket_id)).history]
    assert "未能送达" in notes[-2]  # the other worker gave it up as unknown …
    assert notes[-1] == "“处理中”通知已送达群众（客服消息），此前记为未送达。"  # … corrected
    for _ in range(3):
        clock.advance(60)
        await worker.run_once()
        await other.run_once()
    assert len(fake.custom_messages) == 1


async def test_a_lost_answer_is_never_sent_again(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    """WeChat may have delivered a send whose answer was lost mid-way: neither the client
    nor the worker repeats it; the push shows as undelivered (unknown) for staff."""
    ticket_id = await ticket_in_progress(service)
    fake.fail_next(1, path=TEMPLATE, drop=True)

    worker = sender(service, wechat)
    await worker.run_once()
    for _ in range(3):
        clock.advance(60)
        await worker.run_once()

    assert len(fake.calls_to(TEMPLATE)) == 1  # not retried by the client either
    assert fake.calls_to(SUBSCRIBE) == []
    [fate] = await fates(service, ticket_id)
    assert fate.push.status == "failed"
    assert steps(fate) == [("custom", "skipped", None), ("template", "unknown", None)]
    ticket = await service.queries.get(ticket_id)
    assert "模板消息：结果未知" in (ticket.history[-1].note or "")

    # Staff checked with the resident and queue it again: it goes out once more.
    await service.pushes.retry(fate.push.id)
    await worker.run_once()
    assert len(fake.template_messages) == 1


async def test_a_transient_failure_retries_without_repeating_what_was_refused(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, clock: FakeClock
) -> None:
    ticket_id = await ticket_in_progress(service)
    fake.fail_next(2, path=TEMPLATE, status=503)  # both tries of the client

    worker = sender(service, wechat)
    await worker.run_once()
    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, steps(fate)[-1]) == ("pending", ("template", "failed", None))

    clock.advance(1)
    await worker.run_once()
    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via, fate.push.attempts) == ("sent", "template", 2)
    assert len(fake.template_messages) == 1


async def test_two_workers_racing_send_each_push_once(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI
) -> None:
    tickets = [await ticket_in_progress(service) for _ in range(6)]
    await service.windows.record_inbound(OPENID)
    workers = [sender(service, wechat, f"push-{n}") for n in range(3)]

    for _ in range(3):
        await asyncio.gather(*(w.run_once() for w in workers))

    delivered = fake.custom_messages + fake.template_messages
    assert len(delivered) == len(tickets)
    pushes = [f for t in tickets for f in await fates(service, t)]
    assert all(f.push.status == "sent" for f in pushes)
    assert all(sum(a.outcome == "delivered" for a in f.attempts) == 1 for f in pushes)


async def test_a_follower_is_never_texted_on_the_filers_phone(
    service: TicketService, wechat: WeChatClient, fake: FakeWeChatAPI, gateway: SmsGateway
) -> None:
    from integrations.notify.queue import enqueue_push

    ticket_id = await ticket_in_progress(service)
    follower = "oFollower000000000000000001"
    async with service.core.write() as session:
        enqueue_push(
            session, ticket_id=ticket_id, openid=follower, ticket_status="in_progress",
            text="您关注的问题正在处理中。", template_data={"keyword1": ticket_id},
            now=service.now(),
        )
    fake.template_refused.update({OPENID, follower})

    await sender(service, wechat).run_once()
    await sender(service, wechat).run_once()  # the second push waits for the first

    by_openid = {f.push.openid: f for f in await fates(service, ticket_id)}
    assert by_openid[OPENID].push.via == "sms"
    assert by_openid[follower].push.status == "failed"
    assert ("sms", "skipped", None) in steps(by_openid[follower])
    assert [sms["phone"] for sms in gateway.received] == [PHONE]


async def test_without_a_template_the_subscription_message_comes_first(
    engine: AsyncEngine, make_service: MakeService, wechat: WeChatClient, fake: FakeWeChatAPI
) -> None:
    service = make_service(engine, template_status_id=None,
                           subscription_template_id=SUBSCRIBE_ID)
    ticket_id = await ticket_in_progress(service)
    fake.subscriptions[(OPENID, SUBSCRIBE_ID)] = None
    await service.consents.grant(OPENID, SUBSCRIBE_ID, kind="long_term")

    await sender(service, wechat).run_once()

    [fate] = await fates(service, ticket_id)
    assert (fate.push.status, fate.push.via) == ("sent", "subscription")
    assert steps(fate) == [
        ("custom", "skipped", None),
        ("template", "skipped", None),
        ("subscription", "delivered", None),
    ]
    assert fake.calls_to(TEMPLATE) == []
