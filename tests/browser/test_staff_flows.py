"""Staff in a real browser: answer an escalated chat (the reply reaches the fake WeChat
API, the resident's next line appears without reload); resolve a ticket."""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.bot.wechat_harness import RunningApp
from tests.browser.conftest import log_in
from tests.console.harness import STAFF


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _sent_to(app: RunningApp, openid: str) -> list[str]:
    return [
        call.json["text"]["content"]
        for call in app.fake.custom_messages
        if call.json["touser"] == openid and call.json["msgtype"] == "text"
    ]


def test_staff_answers_an_escalated_chat(web_app: RunningApp, page: Page) -> None:
    openid = "o-browser-resident-1"
    assert "人工" in (web_app.reply(web_app.post(web_app.signer.text(openid, "转人工"))) or "")
    web_app.post(web_app.signer.text(openid, "<b>我家楼道灯</b>一直不亮"))

    log_in(page, web_app.url, *STAFF)
    page.click("a.chat-link")
    transcript = page.locator("#transcript")
    # The resident's words are shown as text, markup and all.
    expect(transcript).to_contain_text("<b>我家楼道灯</b>一直不亮")
    page.click("#take")
    page.fill("#reply-text", "您好，我是社区工作人员小李，马上帮您联系物业。")
    page.click("#reply-send")
    expect(transcript).to_contain_text("我是社区工作人员小李")
    assert _eventually(
        lambda: "您好，我是社区工作人员小李，马上帮您联系物业。" in _sent_to(web_app, openid)
    ), _sent_to(web_app, openid)

    # The resident answers on WeChat; the open page shows it without a reload.
    assert web_app.reply(web_app.post(web_app.signer.text(openid, "好的，谢谢您"))) is None
    expect(transcript).to_contain_text("好的，谢谢您")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#close-chat")
    assert _eventually(lambda: any("人工服务已结束" in t for t in _sent_to(web_app, openid)))
    # Back with the bot: the resident gets an automatic answer again.
    assert web_app.reply(web_app.post(web_app.signer.text(openid, "你好")))


def test_staff_resolve_a_ticket(web_app: RunningApp, page: Page) -> None:
    openid = "o-browser-resident-2"
    for text in ("路灯坏了", "幸福小区3号楼东门", "13812345678"):
        web_app.post(web_app.signer.text(openid, text))
    created = web_app.reply(web_app.post(web_app.signer.text(openid, "确认"))) or ""
    assert "工单号" in created, created

    log_in(page, web_app.url, *STAFF)
    page.click("nav a:has-text('工单')")
    page.click("a.ticket-link")
    expect(page.locator("body")).to_contain_text("138****5678")
    expect(page.locator("body")).not_to_contain_text("13812345678")
    for status, label in (("in_progress", "处理中"), ("resolved", "已办结")):
        page.select_option("#status-form select[name=status]", status)
        page.fill("#status-form textarea[name=note]", "已安排维修人员处理")
        page.click("#status-submit")
        expect(page.locator("#ticket-status")).to_have_attribute("data-status", status)
        expect(page.locator("#ticket-status")).to_contain_text(label)
    # The resident is told on WeChat (status pushes go through the customer-service API).
    assert _eventually(lambda: any("已办结" in t or "办结" in t for t in _sent_to(web_app, openid)))
