"""The staff ticket pages over real HTTP: list, filters, search, paging, masked detail,
audited reveal, status changes that reach the resident, department return, assignment,
CSRF and escaping."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import update

from integrations.db.engine import create_engine
from integrations.db.models import TicketRow
from integrations.tickets.sql import utcnow
from tests.bot.wechat_harness import RunningApp
from tests.console.harness import STAFF, csrf_token

T = TypeVar("T")

_LINK = re.compile(r'class="ticket-link" href="/console/tickets/([^"]+)"')
_STATUS = re.compile(r'id="ticket-status" data-status="([a-z_]+)"')
_TICKET_ID = re.compile(r"\d{8}-\d{4,}")


# -- helpers ----------------------------------------------------------------------------


def api(app: RunningApp) -> httpx.Client:
    """The machine API (bearer token): how tickets entered by phone reach the store."""
    return httpx.Client(
        base_url=app.url,
        headers={"Authorization": f"Bearer {app.settings.server.admin_token}"},
        timeout=30,
    )


def file_ticket(app: RunningApp, **fields: Any) -> dict[str, Any]:
    body = {
        "category": "report.streetlight",
        "description": "路灯不亮了",
        "location": "北京市朝阳区幸福路88号幸福小区3号楼502",
        "phone": "13812345678",
        "channel": "phone",
        **fields,
    }
    with api(app) as client:
        response = client.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def api_ticket(app: RunningApp, ticket_id: str) -> dict[str, Any]:
    with api(app) as client:
        response = client.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy (the worker runs in the app)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        time.sleep(0.05)


def dispatched(app: RunningApp, ticket_id: str) -> dict[str, Any]:
    """Wait until the in-process worker delivered the ticket to the embedded desk."""
    return eventually(
        lambda: (t if (t := api_ticket(app, ticket_id))["status"] == "dispatched" else None),
        what=f"{ticket_id} dispatched",
    )


def listed(staff: httpx.Client, **params: str) -> list[str]:
    response = staff.get("/console/tickets", params=params)
    assert response.status_code == 200, response.text
    return _LINK.findall(response.text)


def page_status(page: str) -> str:
    match = _STATUS.search(page)
    assert match, page
    return match.group(1)


def post_form(
    staff: httpx.Client, path: str, data: dict[str, str], *, token: str | None = None
) -> httpx.Response:
    if token is None:
        token = csrf_token(staff, "/console/tickets")
    return staff.post(path, data={**data, "csrf_token": token})


def make_overdue(app: RunningApp, ticket_id: str) -> None:
    """Move the ticket's deadline into the past (as time passing would)."""

    async def run() -> None:
        engine = create_engine(app.settings.effective_database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    update(TicketRow)
                    .where(TicketRow.id == ticket_id)
                    .values(sla_due_at=utcnow() - timedelta(hours=1))
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def audit_rows(admin: httpx.Client, action: str) -> str:
    response = admin.get("/console/admin/audit", params={"action": action})
    assert response.status_code == 200
    return response.text


def converse(app: RunningApp, openid: str, *messages: str) -> list[str | None]:
    return [app.reply(app.post(app.signer.text(openid, text))) for text in messages]


# -- the list -------------------------------------------------------------------------------


def test_list_filters_and_search(console_app: RunningApp, staff: httpx.Client) -> None:
    lamp = file_ticket(console_app, description="路灯不亮了，晚上很黑")
    lift = file_ticket(
        console_app,
        category="report.elevator",
        description="电梯困人隐患，按钮失灵",
        location="和平路12号和平小区",
        phone="13912345678",
    )
    noise = file_ticket(
        console_app,
        category="report.noise",
        description="楼上装修噪音，周末一早就开始",
        location="人民路5号",
        phone="13712345678",
    )
    for ticket in (lamp, lift, noise):
        dispatched(console_app, ticket["id"])
    with api(console_app) as client:
        moved = client.post(f"/api/tickets/{lamp['id']}/status", json={"status": "in_progress"})
        assert moved.status_code == 200, moved.text
    make_overdue(console_app, noise["id"])

    everything = listed(staff)
    assert everything == [noise["id"], lift["id"], lamp["id"]]  # newest first
    assert listed(staff, status="in_progress") == [lamp["id"]]
    assert listed(staff, status="dispatched") == [noise["id"], lift["id"]]
    assert listed(staff, status="open") == everything
    assert listed(staff, status="closed") == []
    assert listed(staff, category="report.elevator") == [lift["id"]]
    assert listed(staff, department="综合执法中队") == [noise["id"]]
    assert listed(staff, urgent="1") == [lift["id"]]
    assert listed(staff, urgent="0") == [noise["id"], lamp["id"]]
    assert listed(staff, overdue="1") == [noise["id"]]
    assert listed(staff, overdue="0") == [lift["id"], lamp["id"]]
    assert listed(staff, overdue="1", urgent="1") == []
    # Search: the id, and every word of description or location.
    assert listed(staff, q=lamp["id"]) == [lamp["id"]]
    assert listed(staff, q="幸福路") == [lamp["id"]]
    assert listed(staff, q="装修") == [noise["id"]]
    assert listed(staff, q="电梯 和平路") == [lift["id"]]
    assert listed(staff, q="电梯 幸福路") == []
    assert listed(staff, q="%") == []  # a wildcard is a character like any other
    # Unknown filter values are ignored, not an error.
    assert listed(staff, status="bogus", category="nope") == everything

    page = staff.get("/console/tickets").text
    assert "北京市朝阳区幸福路****" in page  # the address masked in the list
    assert "幸福路88号" not in page and "3号楼502" not in page
    assert "电梯故障/困人隐患" in page and "处理中" in page and "已派单" in page
    row = page.split(f'data-ticket-id="{noise["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="badge overdue">超期' in row and "综合执法中队" in row
    row = page.split(f'data-ticket-id="{lift["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="badge urgent">紧急' in row and "超期" not in row
    # Each row links to its detail page.
    assert staff.get(f"/console/tickets/{lift['id']}").status_code == 200


def test_list_pages_through_many_tickets(console_app: RunningApp, staff: httpx.Client) -> None:
    ids = [
        file_ticket(console_app, description=f"翻页测试 第{n}张")["id"] for n in range(23)
    ]
    first = staff.get("/console/tickets", params={"q": "翻页测试"})
    assert "共 23 张工单" in first.text and "第 1 / 2 页" in first.text
    assert _LINK.findall(first.text) == ids[::-1][:20]
    next_link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_link
    second = staff.get(html.unescape(next_link.group(1)))
    assert _LINK.findall(second.text) == ids[::-1][20:]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    # A page past the end shows the last one.
    assert listed(staff, q="翻页测试", page="99") == ids[::-1][20:]


# -- the detail, masking and reveal ----------------------------------------------------------


def test_detail_masks_personal_data_until_revealed(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    photo = "https://mmbiz.qpic.cn/mmbiz_jpg/abcdef/0"
    ticket = file_ticket(
        console_app,
        description="路灯不亮了，请打13812345678联系我",
        photos=[photo],
        latitude=39.91234,
        longitude=116.45678,
    )
    page = staff.get(f"/console/tickets/{ticket['id']}")
    assert page.status_code == 200
    text = page.text
    assert "138****5678" in text
    assert "13812345678" not in text
    assert "北京市朝阳区幸福路****" in text
    assert "88号" not in text and "502" not in text and "116.45678" not in text
    # shown through the console's own origin, never loaded from WeChat by the browser
    assert f'<img class="photo" src="/console/tickets/{ticket["id"]}/photos/0"' in text
    assert f'src="{photo}"' not in text
    assert "路灯不亮/损坏" in text and "市政照明管理处" in text
    assert 'id="reveal"' in text
    assert ticket["id"] in audit_rows(admin, "ticket.view")
    assert ticket["id"] not in audit_rows(admin, "ticket.reveal")

    revealed = post_form(staff, f"/console/tickets/{ticket['id']}/reveal", {})
    assert revealed.status_code == 200
    assert "13812345678" in revealed.text
    assert "北京市朝阳区幸福路88号幸福小区3号楼502" in revealed.text
    # The description was stored with the number masked: the phone field has it whole.
    assert "请打138****5678联系我" in revealed.text
    assert revealed.text.count("13812345678") == 1
    assert "39.912340, 116.456780" in revealed.text
    assert "已记入审计日志" in revealed.text
    audit = audit_rows(admin, "ticket.reveal")
    assert f"ticket:{ticket['id']}" in audit and STAFF[0] in audit
    # Revealing is one view: the next visit is masked again.
    assert "13812345678" not in staff.get(f"/console/tickets/{ticket['id']}").text


def test_unknown_ticket_is_a_polite_404(staff: httpx.Client) -> None:
    response = staff.get("/console/tickets/20990101-0001")
    assert response.status_code == 404
    assert "没有找到这张工单" in response.text


def test_resident_text_is_escaped(console_app: RunningApp, staff: httpx.Client) -> None:
    ticket = file_ticket(
        console_app,
        location="<script>alert('loc')</script>幸福路1号",
        description="<img src=x onerror=alert(1)>路灯坏了",
    )
    pages = [
        staff.get("/console/tickets").text,
        staff.get(f"/console/tickets/{ticket['id']}").text,
        post_form(staff, f"/console/tickets/{ticket['id']}/reveal", {}).text,
    ]
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#39;loc&#39;)&lt;/script&gt;幸福路1号" in pages[2]
    assert "&lt;img src=x onerror=alert(1)&gt;路灯坏了" in pages[2]


# -- actions ------------------------------------------------------------------------------


def test_status_changes_show_in_the_timeline_and_reach_the_resident(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    openid = "o-resident-tickets-1"
    replies = converse(
        console_app,
        openid,
        "幸福小区3号楼东门的路灯坏了三天了，晚上黑乎乎的，电话13812345678",
        "确认",
    )
    match = _TICKET_ID.search(replies[-1] or "")
    assert match, replies
    ticket_id = match.group()
    dispatched(console_app, ticket_id)

    detail = staff.get(f"/console/tickets/{ticket_id}").text
    assert page_status(detail) == "dispatched"
    # The chat that produced the ticket, with the phone masked until revealed.
    assert 'id="ticket-chat"' in detail and "路灯坏了三天了" in detail
    assert "13812345678" not in detail
    options = re.search(r'<select name="status".*?</select>', detail, re.S)
    assert options
    offered = set(re.findall(r'<option value="([a-z_]+)"', options.group()))
    assert offered == {"in_progress", "resolved", "rejected"}

    path = f"/console/tickets/{ticket_id}/status"
    moved = post_form(staff, path, {"status": "in_progress", "note": "已联系维修班组"})
    assert moved.status_code == 303
    page = staff.get(moved.headers["location"]).text
    assert page_status(page) == "in_progress"
    assert "工单状态已更新" in page
    assert "已派单 → 处理中" in page and f"工作人员 {STAFF[0]}" in page
    assert "已联系维修班组" in page

    done = post_form(staff, path, {"status": "resolved", "note": "已更换灯泡"})
    assert done.status_code == 303
    page = staff.get(done.headers["location"]).text
    assert page_status(page) == "resolved"
    assert "处理中 → 已办结" in page and "已更换灯泡" in page
    assert "等待群众评价" in page  # nothing left to choose

    def pushed(*words: str) -> bool:
        return any(
            call.json["touser"] == openid
            and ticket_id in call.json["text"]["content"]
            and all(w in call.json["text"]["content"] for w in words)
            for call in list(console_app.fake.custom_messages)
        )

    eventually(lambda: pushed("正在处理中"), what="the in-progress push")
    eventually(lambda: pushed("已办结", "已更换灯泡"), what="the resolved push")
    assert api_ticket(console_app, ticket_id)["status"] == "resolved"
    audit = audit_rows(admin, "ticket.status")
    assert "dispatched → in_progress" in audit and "in_progress → resolved" in audit


def test_refused_transitions_explain_why(console_app: RunningApp, staff: httpx.Client) -> None:
    ticket = dispatched(console_app, file_ticket(console_app)["id"])
    path = f"/console/tickets/{ticket['id']}/status"

    closed = post_form(staff, path, {"status": "closed"})
    assert closed.status_code == 409
    assert "只能由群众评价产生" in closed.text

    no_reason = post_form(staff, path, {"status": "rejected", "note": "  "})
    assert no_reason.status_code == 422
    assert "退回工单需要填写原因" in no_reason.text

    unknown = post_form(staff, path, {"status": "bogus"})
    assert unknown.status_code == 422
    assert page_status(unknown.text) == "dispatched"

    assert post_form(staff, path, {"status": "resolved", "note": "已修好"}).status_code == 303
    back = post_form(staff, path, {"status": "in_progress"})
    assert back.status_code == 409
    assert "等待群众评价" in back.text
    assert page_status(back.text) == "resolved"
    assert api_ticket(console_app, ticket["id"])["status"] == "resolved"


def test_rejection_with_a_reason_is_final(console_app: RunningApp, staff: httpx.Client) -> None:
    ticket = dispatched(console_app, file_ticket(console_app)["id"])
    path = f"/console/tickets/{ticket['id']}/status"
    rejected = post_form(staff, path, {"status": "rejected", "note": "重复反映，已合并"})
    assert rejected.status_code == 303
    page = staff.get(rejected.headers["location"]).text
    assert page_status(page) == "rejected" and "重复反映，已合并" in page
    again = post_form(staff, path, {"status": "in_progress"})
    assert again.status_code == 409 and "不能再更改状态" in again.text


def test_department_return_waits_for_the_review(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    ticket = dispatched(console_app, file_ticket(console_app)["id"])
    assert ticket["level"] == "community"
    path = f"/console/tickets/{ticket['id']}/return"

    empty = post_form(staff, path, {"note": " "})
    assert empty.status_code == 422 and "请填写退单原因" in empty.text

    returned = post_form(staff, path, {"note": "不属于本部门管辖", "department": "市政管理处"})
    assert returned.status_code == 303
    page = staff.get(returned.headers["location"]).text
    assert "已退单，等待上级审定" in page and 'id="review-form"' in page
    assert "退单：不属于本部门管辖（建议改派市政管理处）；等待审定" in page
    after = api_ticket(console_app, ticket["id"])
    assert after["status"] == "returned" and after["department"] == ticket["department"]
    assert f"ticket:{ticket['id']}" in audit_rows(admin, "ticket.return")
    again = post_form(staff, path, {"note": "再退一次"})
    assert again.status_code == 409 and "只有“已派单”或“处理中”的工单可以退单" in again.text

    review = f"/console/tickets/{ticket['id']}/review"
    same = post_form(staff, review, {"decision": "reroute", "department": ticket["department"]})
    assert same.status_code == 422 and "改派需要选择另一个承办部门" in same.text
    rerouted = post_form(staff, review, {"decision": "reroute", "department": "市政管理处"})
    assert rerouted.status_code == 303
    page = staff.get(rerouted.headers["location"]).text
    assert "审定完成" in page and "审定：改派市政管理处办理" in page
    after = api_ticket(console_app, ticket["id"])
    assert (after["status"], after["department"]) == ("dispatched", "市政管理处")
    assert f"ticket:{ticket['id']}" in audit_rows(admin, "ticket.review")


def test_assign_department_and_grid(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    ticket = dispatched(console_app, file_ticket(console_app)["id"])
    path = f"/console/tickets/{ticket['id']}/assign"
    assigned = post_form(
        staff, path, {"department": "环卫所", "grid": "和平社区网格", "note": "就近处理"}
    )
    assert assigned.status_code == 303
    page = staff.get(assigned.headers["location"]).text
    assert "已保存指派" in page
    assert "指派 责任部门：环卫所，网格：和平社区网格（就近处理）" in page
    after = api_ticket(console_app, ticket["id"])
    assert (after["department"], after["grid"], after["status"]) == (
        "环卫所", "和平社区网格", "dispatched",
    )
    assert listed(staff, department="环卫所") == [ticket["id"]]
    assert f"ticket:{ticket['id']}" in audit_rows(admin, "ticket.assign")

    same = post_form(staff, path, {"department": "环卫所", "grid": "和平社区网格"})
    assert same.status_code == 422 and "没有变化" in same.text
    made_up = post_form(staff, path, {"department": "不存在的部门"})
    assert made_up.status_code == 422

    post_form(staff, f"/console/tickets/{ticket['id']}/status", {"status": "resolved"})
    late = post_form(staff, path, {"department": "水务公司"})
    assert late.status_code == 409 and "不能再指派" in late.text


def test_actions_need_the_csrf_token(console_app: RunningApp, staff: httpx.Client) -> None:
    ticket = dispatched(console_app, file_ticket(console_app)["id"])
    base = f"/console/tickets/{ticket['id']}"
    attempts = [
        ("/status", {"status": "in_progress"}),
        ("/return", {"note": "不是我们的"}),
        ("/assign", {"department": "环卫所"}),
        ("/reveal", {}),
    ]
    for suffix, data in attempts:
        for token in ("", "forged-token"):
            response = staff.post(base + suffix, data={**data, "csrf_token": token})
            assert response.status_code == 403, (suffix, response.status_code)
            assert "13812345678" not in response.text
    after = api_ticket(console_app, ticket["id"])
    assert (after["status"], after["level"], after["department"]) == (
        "dispatched", "community", "市政照明管理处",
    )


def test_staff_escalate_a_ticket_with_a_reason(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    ticket = dispatched(console_app, file_ticket(console_app)["id"])
    path = f"/console/tickets/{ticket['id']}/escalate"
    assert post_form(staff, path, {"reason": ""}).status_code == 422
    escalated = post_form(staff, path, {"reason": "群众多次来电，情绪激动"})
    assert escalated.status_code == 303
    page = staff.get(escalated.headers["location"]).text
    assert "已升级办理" in page and "人工升级：群众多次来电，情绪激动" in page
    after = api_ticket(console_app, ticket["id"])
    assert after["level"] == "street" and after["status"] == "dispatched"
    # New clocks from the escalation (in working days the deadline may fall on the same day).
    assert after["clocks"]["started_at"] > ticket["clocks"]["started_at"]
    assert f"ticket:{ticket['id']}" in audit_rows(admin, "ticket.escalate")
    for _ in range(2):  # up to the city; there is nothing above it
        assert post_form(staff, path, {"reason": "再升"}).status_code == 303
    assert api_ticket(console_app, ticket["id"])["level"] == "city"
    refused = post_form(staff, path, {"reason": "还要升"})
    assert refused.status_code == 409 and "不能再升级" in refused.text
    assert 'id="escalate-form"' not in staff.get(f"/console/tickets/{ticket['id']}").text
