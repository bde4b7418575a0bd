"""The staff ticket API through HTTP (an app assembled here with the router), on SQLite and
on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pydantic
import pytest
from fastapi import FastAPI

from bot.api.tickets import Status, create_tickets_router
from integrations.accounts import AuditLog
from integrations.dispatch.embedded import EmbeddedDesk
from integrations.notify.sender import PushSender
from integrations.tickets import TicketService
from integrations.wechat import WeChatAPIError
from policies.tickets import STATUSES
from tests.tickets.conftest import MakeWorker
from tests.tickets.fakes import FakeBackend, FakeClock

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPENID = "oResident0000000000000001"

PHONED_IN = {
    "category": "report.streetlight",
    "location": "幸福小区3号楼东门",
    "description": "路灯不亮，晚上很黑",
    "phone": "13800138000",
    "channel": "phone",
    "staff": "张敏",
}


@pytest.fixture
async def client(service: TicketService) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(
        create_tickets_router(service, admin_token=TOKEN, audit_log=AuditLog(service.engine))
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake.test", headers=AUTH
    ) as http:
        yield http


@pytest.fixture
def desk_worker(service: TicketService, desk: EmbeddedDesk, make_worker: MakeWorker) -> Any:
    return make_worker(service, desk)


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/tickets", json={**PHONED_IN, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_status_literal_is_the_policy_vocabulary() -> None:
    adapter = pydantic.TypeAdapter(Status)
    assert [adapter.validate_python(status) for status in STATUSES] == list(STATUSES)
    with pytest.raises(pydantic.ValidationError):
        adapter.validate_python("finished")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
     {"Authorization": "Bearer"}],
)
async def test_every_endpoint_needs_the_bearer_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/api/tickets"),
        ("POST", "/api/tickets"),
        ("GET", "/api/tickets/20261123-0001"),
        ("GET", "/api/tickets/20261123-0001/contact"),
        ("POST", "/api/tickets/20261123-0001/status"),
        ("GET", "/api/outbox"),
        ("GET", "/api/pushes"),
    ]:
        client.headers.pop("Authorization", None)
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_create_goes_through_the_outbox_to_the_desk(
    client: httpx.AsyncClient, desk_worker: Any, clock: FakeClock
) -> None:
    body = await create(client, openid=OPENID)

    assert body["id"] == "20261123-0001"
    assert body["status"] == "received" and body["status_label"] == "已受理"
    assert body["category_label"] == "路灯不亮/损坏"
    assert body["department"] == "市政照明管理处" and body["level"] == "community"
    assert body["phone"] == "138****8000" and body["openid"] == OPENID
    assert body["urgent"] is False and body["overdue"] is False
    # 办结 within 3 working days, 签收 within 2 working hours (policies/data/sla.yaml)
    assert body["sla_due_at"] == "2026-11-26T18:00:00+08:00"
    assert body["clocks"]["sign_due_at"] == "2026-11-23T12:00:00+08:00"
    assert body["clocks"]["overdue_count"] == 0 and body["warnings"] == []
    assert body["solved"] is None and body["follow_up"] is None and body["repeat_of"] is None
    assert body["created_at"] == "2026-11-23T10:00:00+08:00"
    assert body["rating"] is None
    assert body["delivery"]["status"] == "pending"
    assert body["history"] == [
        {
            "at": "2026-11-23T10:00:00+08:00",
            "actor": "staff:张敏",
            "from": None,
            "to": "received",
            "note": "渠道：电话",
        }
    ]

    assert await desk_worker.run_once() >= 1
    dispatched = (await client.get(f"/api/tickets/{body['id']}")).json()
    assert dispatched["status"] == "dispatched"
    assert dispatched["external_id"] == "DESK-20261123-0001-1"
    assert dispatched["grid"] == "幸福社区网格"  # from the location's keywords
    assert dispatched["delivery"]["status"] == "delivered"
    assert dispatched["history"][-1]["note"] == (
        "已派单至市政照明管理处（幸福社区网格，社区级）（编号DESK-20261123-0001-1）"
    )


async def test_the_phone_is_whole_only_in_the_audited_contact(
    client: httpx.AsyncClient, service: TicketService
) -> None:
    """Issue 13: API responses show the phone masked; ``/contact`` gives it whole and
    writes who asked, and from where, to the audit log."""
    body = await create(client, description="路灯不亮，有事打13800138000")
    listed = (await client.get("/api/tickets")).json()["items"]
    one = (await client.get(f"/api/tickets/{body['id']}")).json()
    for shown in (body, listed[0], one):
        assert "13800138000" not in str(shown)
        assert shown["phone"] == "138****8000"
    assert one["description"] == "路灯不亮，有事打138****8000"  # redacted when stored
    assert await AuditLog(service.engine).recent(action="ticket.reveal") == []

    contact = await client.get(f"/api/tickets/{body['id']}/contact")

    assert contact.status_code == 200
    assert contact.json() == {
        "id": body["id"],
        "phone": "13800138000",
        "location": "幸福小区3号楼东门",
        "latitude": None,
        "longitude": None,
    }
    [entry] = await AuditLog(service.engine).recent(action="ticket.reveal")
    assert (entry.actor, entry.target, entry.detail) == ("api", f"ticket:{body['id']}", "接口查看")
    assert (await client.get("/api/tickets/20991231-9999/contact")).status_code == 404
    assert len(await AuditLog(service.engine).recent(action="ticket.reveal")) == 1


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"category": "report.teleportation"}, "category"),
        ({"category": "faq.social.card"}, "category"),
        ({"phone": ""}, "phone"),
        ({"location": ""}, "location"),
        ({"channel": "pigeon"}, "channel"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_create_refuses_invalid_fields(
    client: httpx.AsyncClient, fields: dict[str, Any], where: str
) -> None:
    response = await client.post("/api/tickets", json={**PHONED_IN, **fields})
    assert response.status_code == 422
    assert where in str(response.json()["detail"])
    assert (await client.get("/api/tickets")).json()["items"] == []


async def test_list_filters(client: httpx.AsyncClient, clock: FakeClock) -> None:
    a = await create(client, openid=OPENID)
    clock.advance(60)
    b = await create(client, category="report.elevator", location="和平路8号")
    clock.advance(60)
    c = await create(client, category="report.garbage")
    await client.post(f"/api/tickets/{c['id']}/status", json={"status": "in_progress"})

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/tickets", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [c["id"], b["id"], a["id"]]
    assert await ids(limit=2, offset=1) == [b["id"], a["id"]]
    assert await ids(openid=OPENID) == [a["id"]]
    assert await ids(status="in_progress") == [c["id"]]
    assert await ids(status="received,in_progress") == [c["id"], b["id"], a["id"]]
    assert await ids(category="report.elevator") == [b["id"]]
    assert await ids(urgent="true") == [b["id"]]
    assert await ids(overdue="true") == []
    clock.advance(hours=32.1)  # Tuesday 18:06: past the elevator's one working day
    assert await ids(overdue="true") == [b["id"]]
    assert (await client.get(f"/api/tickets/{b['id']}")).json()["overdue"] is True
    response = await client.get("/api/tickets", params={"status": "lost"})
    assert response.status_code == 422 and "unknown status" in response.text
    assert (await client.get("/api/tickets", params={"limit": 0})).status_code == 422


async def test_status_changes_and_their_errors(client: httpx.AsyncClient) -> None:
    ticket = await create(client, openid=OPENID)
    url = f"/api/tickets/{ticket['id']}/status"

    moved = await client.post(url, json={"status": "in_progress", "note": "已派人", "staff": "王"})
    assert moved.status_code == 200
    assert moved.json()["status"] == "in_progress" and moved.json()["status_label"] == "处理中"
    assert moved.json()["history"][-1] == {
        "at": "2026-11-23T10:00:00+08:00",
        "actor": "staff:王",
        "from": "received",
        "to": "in_progress",
        "note": "已派人",
    }

    illegal = await client.post(url, json={"status": "closed"})
    assert illegal.status_code == 409
    assert illegal.json()["from"] == "in_progress" and illegal.json()["to"] == "closed"
    assert "in_progress" in illegal.json()["detail"] and "closed" in illegal.json()["detail"]

    assert (await client.post(url, json={"status": "finished"})).status_code == 422
    no_reason = await client.post(url, json={"status": "rejected"})
    assert no_reason.status_code == 422 and "needs a note" in no_reason.text
    missing = await client.post("/api/tickets/20261123-9999/status", json={"status": "resolved"})
    assert missing.status_code == 404
    assert (await client.get("/api/tickets/20261123-9999")).status_code == 404

    resolved = await client.post(url, json={"status": "resolved", "note": "已修复"})
    assert resolved.status_code == 200
    rated = await client.post(
        f"/api/tickets/{ticket['id']}/rating",
        json={"rating": "unsatisfied", "reason": "晚上还是黑", "staff": "回访员"},
    )
    assert rated.status_code == 200
    assert rated.json()["status"] == "reopened" and rated.json()["level"] == "street"
    assert rated.json()["rating"] == {"value": "unsatisfied", "reason": "晚上还是黑"}


async def test_department_return_and_its_review(
    client: httpx.AsyncClient, desk_worker: Any
) -> None:
    ticket = await create(client)
    await desk_worker.run_once()
    returned = await client.post(
        f"/api/tickets/{ticket['id']}/return",
        json={"note": "不属于照明处职责", "department": "街道城管科", "staff": "照明处"},
    )
    assert returned.status_code == 200
    assert returned.json()["status"] == "returned" and returned.json()["level"] == "community"
    assert returned.json()["department"] == "市政照明管理处"
    [waiting] = (await client.get("/api/returns")).json()["items"]
    assert waiting["ticket_id"] == ticket["id"]
    assert waiting["suggested_department"] == "街道城管科"

    url = f"/api/tickets/{ticket['id']}/review"
    assert (await client.post(url, json={"decision": "reroute"})).status_code == 422
    reviewed = await client.post(
        url, json={"decision": "reroute", "department": "街道城管科", "staff": "审定"}
    )
    assert reviewed.status_code == 200
    assert reviewed.json()["status"] == "dispatched"
    assert reviewed.json()["department"] == "街道城管科"
    assert (await client.get("/api/returns")).json()["items"] == []
    assert (await client.post(url, json={"decision": "send_back"})).status_code == 409
    received = await create(client)
    refused = await client.post(f"/api/tickets/{received['id']}/return", json={"note": "x"})
    assert refused.status_code == 409


async def test_parked_deliveries_are_listed_and_requeued(
    service: TicketService, client: httpx.AsyncClient, make_worker: MakeWorker
) -> None:
    backend = FakeBackend()
    backend.reject = True
    ticket = await create(client)
    await make_worker(service, backend).run_once()

    parked = (await client.get("/api/outbox", params={"status": "parked"})).json()["items"]
    assert [(j["ticket_id"], j["status"]) for j in parked] == [(ticket["id"], "parked")]
    assert (await client.get(f"/api/tickets/{ticket['id']}")).json()["delivery"]["status"] == (
        "parked"
    )

    backend.reject = False
    retried = await client.post(f"/api/outbox/{parked[0]['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert (await client.post(f"/api/outbox/{parked[0]['id']}/retry")).status_code == 409
    assert (await client.post("/api/outbox/424242/retry")).status_code == 404
    await make_worker(service, backend).run_once()
    assert (await client.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "dispatched"


class _Unfollowed:
    """A WeChat that refuses every message: the resident unfollowed the account."""

    async def send_text(self, openid: str, content: str, **_: Any) -> None:
        raise WeChatAPIError(43004, "require subscribe")

    async def send_template(
        self, openid: str, template_id: str, data: Any, url: str | None = None, **_: Any
    ) -> int:
        raise WeChatAPIError(43004, "require subscribe")

    async def send_subscription(self, openid: str, template_id: str, data: Any,
                                **_: Any) -> None:
        raise WeChatAPIError(43004, "require subscribe")


async def test_failed_pushes_are_listed_and_requeued(
    service: TicketService, client: httpx.AsyncClient
) -> None:
    ticket = await create(client, openid=OPENID)
    [push] = (await client.get("/api/pushes")).json()["items"]
    assert push["ticket_id"] == ticket["id"] and push["status"] == "pending"
    assert push["text"] == (
        f"您反映的“路灯不亮/损坏”问题（工单号{ticket['id']}）已受理，我们会尽快派单处理。"
    )
    assert (await client.post(f"/api/pushes/{push['id']}/retry")).status_code == 409

    await PushSender(service.core, _Unfollowed()).run_once()
    [failed] = (await client.get("/api/pushes", params={"status": "failed"})).json()["items"]
    assert failed["id"] == push["id"] and "43004" in failed["last_error"]
    retried = await client.post(f"/api/pushes/{push['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert (await client.post("/api/pushes/999/retry")).status_code == 404
    assert (await client.get("/api/pushes", params={"status": "bogus"})).status_code == 422
