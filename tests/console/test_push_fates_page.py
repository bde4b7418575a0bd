"""The 推送情况 section of a ticket's console page (issue 17, "pushes that arrive"): which
channel delivered each status push, or why none did, over real HTTP."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from bot.console.simulator import push_text
from integrations.wechat.fake_server import RecordedCall
from tests.bot.wechat_harness import RunningApp
from tests.console.test_tickets_pages import (
    _TICKET_ID,
    api_ticket,
    converse,
    dispatched,
    eventually,
    file_ticket,
)

_PUSHES = re.compile(r'<ol class="timeline" id="ticket-pushes">(.*?)</ol>', re.S)


def pushes_section(staff: httpx.Client, ticket_id: str) -> str:
    page = staff.get(f"/console/tickets/{ticket_id}")
    assert page.status_code == 200, page.text
    match = _PUSHES.search(page.text)
    return html.unescape(match.group(1)) if match else ""


def test_delivered_and_undelivered_pushes_show_on_the_ticket(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    # A resident who wrote to us: the push goes as a customer-service text.
    replies = converse(
        console_app, "o-push-fates-1",
        "幸福小区3号楼东门的路灯坏了三天了，晚上黑乎乎的，电话13812345678", "确认",
    )
    match = _TICKET_ID.search(replies[-1] or "")
    assert match, replies
    chatted = match.group()
    dispatched(console_app, chatted)
    section = eventually(
        lambda: (s if "已送达（客服消息）" in (s := pushes_section(staff, chatted)) else None),
        what="the delivered push on the page",
    )
    assert "“已派单”通知" in section and "客服消息：已送达" in section and "提交人" in section

    # Entered by phone for a resident who never wrote: no window, no template configured,
    # no subscription, no SMS hook — nothing can reach them, and staff are told so.
    phoned = file_ticket(console_app, openid="o-push-fates-2")["id"]
    dispatched(console_app, phoned)
    section = eventually(
        lambda: (s if "未送达" in (s := pushes_section(staff, phoned)) else None),
        what="the undelivered push on the page",
    )
    assert 'data-undelivered="yes"' in staff.get(f"/console/tickets/{phoned}").text
    assert "客服消息：未尝试（48小时窗口已关闭）" in section
    assert "模板消息：未尝试（未配置）" in section and "短信：未尝试（未配置）" in section
    history = api_ticket(console_app, phoned)["history"]
    assert any("通知未能送达群众" in (entry["note"] or "") for entry in history)
    # 已受理 (entered by staff) and 已派单: the page showed the first one settled; wait for both.
    def settled() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = api_ticket(console_app, phoned)["pushes"]
        return found if all(p["fate"] != "pending" for p in found) else None

    pushes = eventually(settled, what="both pushes settled")
    assert [p["ticket_status"] for p in pushes] == ["received", "dispatched"]
    for push in pushes:
        assert (push["fate"], push["via"]) == ("undelivered", None)
        assert [s["outcome"] for s in push["steps"]] == ["skipped"] * 4


def test_the_simulator_shows_a_subscription_message() -> None:
    call = RecordedCall(
        "POST", "/cgi-bin/message/subscribe/bizsend", {}, b"",
        {"touser": "sim-1", "template_id": "SUB-1",
         "data": {"character_string1": {"value": "20261203-0001"}, "phrase2": {"value": "已办结"}}},
    )
    assert push_text(call) == "20261203-0001\n已办结"
