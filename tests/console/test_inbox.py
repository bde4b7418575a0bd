"""The staff inbox (人工会话) over real HTTP: a resident asks for a person through signed
``/wechat`` messages, staff find the chat, take it, answer through the fake WeChat API,
see new lines by polling, and hand the resident back to the bot."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from policies.messages import HANDOFF_CLOSED as CLOSING_NOTICE
from privacy import mask_openid
from tests.bot.wechat_harness import RunningApp
from tests.console.harness import STAFF, csrf_token

CUSTOM_SEND = "/cgi-bin/message/custom/send"


def ask_for_person(app: RunningApp, openid: str) -> None:
    answer = app.reply(app.post(app.signer.text(openid, "转人工")))
    assert answer and "人工" in answer, answer


def resident_says(app: RunningApp, openid: str, text: str) -> str | None:
    return app.reply(app.post(app.signer.text(openid, text)))


def handoff_id_in_inbox(client: httpx.Client, openid: str, tab: str = "waiting") -> int:
    """The chat's id, found the way staff find it: the masked resident in the list."""
    page = client.get("/console/inbox", params={"tab": tab})
    assert page.status_code == 200, page.text
    match = re.search(
        r'<a class="chat-link" href="/console/inbox/(\d+)">' + re.escape(mask_openid(openid)),
        page.text,
    )
    assert match, page.text
    return int(match.group(1))


def in_tab(client: httpx.Client, tab: str, handoff_id: int) -> bool:
    page = client.get("/console/inbox", params={"tab": tab})
    assert page.status_code == 200
    return f'href="/console/inbox/{handoff_id}"' in page.text


def tab_count(client: httpx.Client, tab: str) -> int:
    page = client.get("/console/inbox", params={"tab": tab}).text
    match = re.search(rf'id="tab-{tab}"[^>]*>[^<]*<span class="count">(\d+)</span>', page)
    assert match, page
    return int(match.group(1))


def texts_sent_to(app: RunningApp, openid: str) -> list[str]:
    return [
        call.json["text"]["content"]
        for call in app.fake.custom_messages
        if call.json["touser"] == openid and call.json["msgtype"] == "text"
    ]


def reply_json(
    client: httpx.Client, handoff_id: int, text: str, token: str | None
) -> httpx.Response:
    headers = {"X-CSRF-Token": token} if token is not None else {}
    return client.post(
        f"/console/api/handoffs/{handoff_id}/reply", json={"text": text}, headers=headers
    )


def new_lines(client: httpx.Client, handoff_id: int, after: int) -> list[dict[str, Any]]:
    response = client.get(f"/console/api/handoffs/{handoff_id}/messages", params={"after": after})
    assert response.status_code == 200, response.text
    lines: list[dict[str, Any]] = response.json()["lines"]
    return lines


def audited(admin: httpx.Client, action: str, target: str) -> list[str]:
    """Rows of the audit page for this action and target (each row's cells as text)."""
    page = admin.get("/console/admin/audit", params={"action": action})
    assert page.status_code == 200
    return [
        row
        for row in re.findall(r"<tr>(.*?)</tr>", page.text, flags=re.S)
        if f"<td>{action}</td>" in row and f"<td>{target}</td>" in row
    ]


def test_staff_take_answer_follow_and_close_a_chat(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    openid = "o-inbox-resident-0001"
    ask_for_person(console_app, openid)

    # The waiting tab shows the resident masked, why, and what they said last.
    waiting_before = tab_count(staff, "waiting")
    handoff_id = handoff_id_in_inbox(staff, openid)
    listing = staff.get("/console/inbox").text
    assert openid not in listing
    assert "居民要求转人工" in listing and "转人工" in listing
    assert waiting_before >= 1

    # Opening the chat shows the transcript and the controls, and is audited.
    chat = staff.get(f"/console/inbox/{handoff_id}")
    assert chat.status_code == 200
    assert openid not in chat.text and mask_openid(openid) in chat.text
    transcript = re.search(
        r'<ul class="transcript" id="transcript"[^>]*>(.*?)</ul>', chat.text, re.S
    )
    assert transcript and "转人工" in transcript.group(1)
    for element in ('id="reply-text"', 'id="reply-send"', 'id="take"', 'id="close-chat"'):
        assert element in chat.text, element
    assert "您好，我是街道工作人员" in chat.text  # a canned reply to insert
    assert audited(admin, "handoff.view", f"handoff:{handoff_id}")

    # Taking it moves it from the waiting tab to the staff member's own tab.
    token = csrf_token(staff, f"/console/inbox/{handoff_id}")
    taken = staff.post(f"/console/inbox/{handoff_id}/take", data={"csrf_token": token})
    assert taken.status_code == 303
    assert in_tab(staff, "mine", handoff_id) and not in_tab(staff, "waiting", handoff_id)
    assert tab_count(staff, "waiting") == waiting_before - 1
    assert not in_tab(admin, "mine", handoff_id)  # the admin did not take it
    assert audited(admin, "handoff.take", f"handoff:{handoff_id}")
    assert "zhang.staff" in staff.get(f"/console/inbox/{handoff_id}").text

    # A reply through the JSON API reaches the resident through WeChat.
    last_id = max(int(line["id"]) for line in new_lines(staff, handoff_id, 0))
    sent = reply_json(staff, handoff_id, "您好，我是街道工作人员，请问有什么可以帮您？", token)
    assert sent.status_code == 200, sent.text
    assert sent.json()["line"]["role"] == "staff" and sent.json()["line"]["delivered"] is True
    assert texts_sent_to(console_app, openid) == ["您好，我是街道工作人员，请问有什么可以帮您？"]
    assert audited(admin, "handoff.reply", f"handoff:{handoff_id}")

    # Without the CSRF header the reply is refused and nothing is sent.
    forged = reply_json(staff, handoff_id, "伪造的消息", None)
    assert forged.status_code == 403
    assert len(texts_sent_to(console_app, openid)) == 1

    # The resident's next message reaches staff, not the bot, and shows up by polling.
    assert resident_says(console_app, openid, "我家楼下的路灯坏了三天了") is None
    lines = new_lines(staff, handoff_id, last_id)
    assert [(line["role"], line["text"]) for line in lines] == [
        ("staff", "您好，我是街道工作人员，请问有什么可以帮您？"),
        ("resident", "我家楼下的路灯坏了三天了"),
    ]
    newest = int(lines[-1]["id"])
    assert new_lines(staff, handoff_id, newest) == []

    # Closing hands the resident back to the bot and tells them politely.
    closed = staff.post(f"/console/inbox/{handoff_id}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    assert texts_sent_to(console_app, openid)[-1] == CLOSING_NOTICE
    assert in_tab(staff, "closed", handoff_id) and not in_tab(staff, "mine", handoff_id)
    assert audited(admin, "handoff.close", f"handoff:{handoff_id}")
    state = staff.get(f"/console/api/handoffs/{handoff_id}/messages").json()
    assert state["status"] == "closed" and state["is_open"] is False

    answer = resident_says(console_app, openid, "你好")
    assert answer, "the bot answers again after the chat was closed"
    assert new_lines(staff, handoff_id, newest)[-1]["text"] == CLOSING_NOTICE  # not "你好"

    # A closed chat takes no more replies.
    late = reply_json(staff, handoff_id, "还在吗？", token)
    assert late.status_code == 409
    assert texts_sent_to(console_app, openid)[-1] == CLOSING_NOTICE


def test_reply_when_wechat_refuses_is_kept_and_marked_undelivered(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    openid = "o-inbox-resident-0002"
    ask_for_person(console_app, openid)
    handoff_id = handoff_id_in_inbox(staff, openid)
    token = csrf_token(staff, f"/console/inbox/{handoff_id}")

    console_app.fake.window_closed.add(openid)
    refused = reply_json(staff, handoff_id, "您好，请问还需要帮助吗？", token)
    assert refused.status_code == 409
    assert "48 小时" in refused.json()["error"]
    assert texts_sent_to(console_app, openid) == []
    # Replying took the unassigned chat for this staff member.
    assert in_tab(staff, "mine", handoff_id)

    line = new_lines(staff, handoff_id, 0)[-1]
    assert line["text"] == "您好，请问还需要帮助吗？" and line["delivered"] is False
    assert "未送达" in staff.get(f"/console/inbox/{handoff_id}").text

    # Any other refusal: a plain "try again".
    console_app.fake.window_closed.discard(openid)
    console_app.fake.fail_next(path=CUSTOM_SEND, errcode=40003, errmsg="invalid openid")
    failed = reply_json(staff, handoff_id, "您好", token)
    assert failed.status_code == 502
    assert failed.json()["error"] == "发送失败，请重试"

    delivered = reply_json(staff, handoff_id, "您好，我是街道工作人员", token)
    assert delivered.status_code == 200
    assert texts_sent_to(console_app, openid) == ["您好，我是街道工作人员"]
    flags = [(line["text"], line["delivered"]) for line in new_lines(staff, handoff_id, 0)]
    assert flags[-3:] == [
        ("您好，请问还需要帮助吗？", False),
        ("您好", False),
        ("您好，我是街道工作人员", True),
    ]
    # The machine API still shows the same transcript (its contract is unchanged).
    machine = httpx.get(
        f"{console_app.url}/api/handoffs/{handoff_id}",
        headers={"Authorization": f"Bearer {console_app.settings.server.admin_token}"},
    ).json()
    assert [m["role"] for m in machine["transcript"]][-3:] == ["staff", "staff", "staff"]
    assert machine["assignee"] == "zhang.staff"


def test_form_reply_and_empty_reply(console_app: RunningApp, staff: httpx.Client) -> None:
    openid = "o-inbox-resident-0003"
    ask_for_person(console_app, openid)
    handoff_id = handoff_id_in_inbox(staff, openid)
    token = csrf_token(staff, f"/console/inbox/{handoff_id}")

    empty = reply_json(staff, handoff_id, "   ", token)
    assert empty.status_code == 400 and "请先输入" in empty.json()["error"]

    posted = staff.post(
        f"/console/inbox/{handoff_id}/reply",
        data={"text": "好的，马上为您处理", "csrf_token": token},
    )
    assert posted.status_code == 303
    assert "回复已发送" in staff.get(posted.headers["location"]).text
    assert texts_sent_to(console_app, openid) == ["好的，马上为您处理"]
    assert staff.post(f"/console/inbox/{handoff_id}/reply", data={"text": "x"}).status_code == 403

    assert staff.get("/console/inbox/999999").status_code == 404
    assert staff.get("/console/api/handoffs/999999/messages").status_code == 404


def test_resident_text_is_escaped_in_pages_and_raw_only_in_json(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    openid = "o-inbox-resident-0004"
    attack = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    ask_for_person(console_app, openid)
    assert resident_says(console_app, openid, attack) is None
    handoff_id = handoff_id_in_inbox(staff, openid)

    for page in (staff.get("/console/inbox").text, staff.get(f"/console/inbox/{handoff_id}").text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    chat = staff.get(f"/console/inbox/{handoff_id}").text
    assert html.escape(attack, quote=False) in chat

    lines = new_lines(staff, handoff_id, 0)
    assert lines[-1]["text"] == attack and lines[-1]["role"] == "resident"


def test_addresses_and_numbers_are_masked_until_an_audited_reveal(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    """Issue 13: the inbox showed phone numbers and addresses whole, with no reveal step
    and nothing audited. Now the list, the chat page and its polling show them masked; a
    reveal (audited ``handoff.reveal``) shows the address as stored — the phone and the ID
    number were masked before they were stored, so not even a reveal shows those."""
    openid = "o-inbox-reveal-0001"
    ask_for_person(console_app, openid)
    said = "我家在幸福小区3号楼2单元502室，电话158 6739 2041，身份证110105–19900101–103X"
    assert resident_says(console_app, openid, said) is None  # with a person: the bot is silent
    handoff_id = handoff_id_in_inbox(staff, openid)
    masked = "我家在幸福小区*号楼*单元*室，电话158****2041，身份证110105********103X"

    listing = staff.get("/console/inbox").text
    page = staff.get(f"/console/inbox/{handoff_id}").text
    polled = new_lines(staff, handoff_id, 0)
    for shown in (listing, page, str(polled)):
        assert "3号楼" not in shown and "502" not in shown
        assert "67392041" not in shown and "19900101" not in shown
    assert masked[:20] in listing  # the preview of the newest line
    assert masked in page and masked in [line["text"] for line in polled]
    assert 'id="reveal"' in page
    assert not audited(admin, "handoff.reveal", f"handoff:{handoff_id}")

    token = csrf_token(staff, f"/console/inbox/{handoff_id}")
    forged = staff.post(f"/console/inbox/{handoff_id}/reveal", data={})
    assert forged.status_code == 403 and "3号楼" not in forged.text
    revealed = staff.post(f"/console/inbox/{handoff_id}/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200
    assert "我家在幸福小区3号楼2单元502室，电话158****2041，身份证110105********103X" in (
        revealed.text
    )
    assert "正在显示完整信息（已记入审计日志）" in revealed.text
    [row] = audited(admin, "handoff.reveal", f"handoff:{handoff_id}")
    assert STAFF[0] in row

    # The reveal was one view: the page and the polling mask again.
    assert "3号楼" not in staff.get(f"/console/inbox/{handoff_id}").text
    assert "3号楼" not in str(new_lines(staff, handoff_id, 0))
