"""Staff replies and other customer-service texts, over real HTTP: one implementation for
the console and the staff API, and every text to a resident counted against
``INTAKE_CS_QUOTA`` (customer-service texts per resident per 48-hour window, starting
again with each message of the resident)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import STAFF, create_accounts, csrf_token, database_url, login


def ask_for_person(app: RunningApp, openid: str) -> int:
    """The resident asks for a person through WeChat; the new handoff's id."""
    assert "人工" in (app.reply(app.post(app.signer.text(openid, "转人工"))) or "")
    return int(api(app, "GET", "/api/handoffs", params={"openid": openid}).json()["items"][0]["id"])


def api(app: RunningApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
    return httpx.request(method, app.url + path, headers=headers, timeout=30, **kwargs)


def api_reply(app: RunningApp, handoff_id: int, text: str) -> httpx.Response:
    return api(app, "POST", f"/api/handoffs/{handoff_id}/messages", json={"text": text})


def console_reply(
    app: RunningApp, staff: httpx.Client, handoff_id: int, text: str
) -> httpx.Response:
    token = csrf_token(staff, f"/console/inbox/{handoff_id}")
    return staff.post(
        f"/console/api/handoffs/{handoff_id}/reply",
        json={"text": text},
        headers={"X-CSRF-Token": token},
    )


def texts_sent_to(app: RunningApp, openid: str) -> list[str]:
    return [
        str(call.json["text"]["content"])
        for call in app.fake.custom_messages
        if call.json and call.json.get("touser") == openid
    ]


def transcript(app: RunningApp, handoff_id: int) -> list[tuple[str, str, bool]]:
    detail = api(app, "GET", f"/api/handoffs/{handoff_id}").json()
    return [(line["role"], line["text"], line["delivered"]) for line in detail["transcript"]]


@pytest.fixture
def quota_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_CS_QUOTA", "2")


@pytest.fixture
def app_and_staff(tmp_path: Path, quota_two: None) -> Iterator[tuple[RunningApp, httpx.Client]]:
    create_accounts(database_url(tmp_path))
    with running_app(tmp_path) as app, closing(login(app.url, *STAFF)) as staff:
        yield app, staff


def test_api_reply_to_a_closed_handoff_is_refused(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        openid = "o-replies-closed-01"
        handoff_id = ask_for_person(app, openid)
        assert api(app, "POST", f"/api/handoffs/{handoff_id}/close").status_code == 200
        before = transcript(app, handoff_id)

        late = api_reply(app, handoff_id, "您好，还在吗？")

        assert late.status_code == 409, late.text
        assert late.json()["code"] == "already-closed"
        assert "closed" in late.json()["error"]
        assert "您好，还在吗？" not in texts_sent_to(app, openid)
        assert transcript(app, handoff_id) == before  # nothing recorded for a closed chat


def test_api_reply_wechat_refuses_is_marked_undelivered(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        openid = "o-replies-refused-01"
        handoff_id = ask_for_person(app, openid)
        app.fake.window_closed.add(openid)

        refused = api_reply(app, handoff_id, "您好，我是工作人员")

        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "window-closed"
        assert transcript(app, handoff_id)[-1] == ("staff", "您好，我是工作人员", False)
        app.fake.window_closed.discard(openid)
        assert api_reply(app, handoff_id, "您好，请讲").status_code == 200
        assert transcript(app, handoff_id)[-1] == ("staff", "您好，请讲", True)


def test_the_quota_applies_to_api_and_console_replies_and_restarts_with_the_resident(
    app_and_staff: tuple[RunningApp, httpx.Client],
) -> None:
    app, staff = app_and_staff
    openid = "o-replies-quota-01"
    handoff_id = ask_for_person(app, openid)

    assert api_reply(app, handoff_id, "您好，我是工作人员小王").status_code == 200
    assert console_reply(app, staff, handoff_id, "请问具体在哪里？").status_code == 200
    # Two texts since the resident's message: the quota of two is used up.
    over_api = api_reply(app, handoff_id, "还在吗？")
    assert over_api.status_code == 409, over_api.text
    assert over_api.json()["code"] == "over-quota"
    over_console = console_reply(app, staff, handoff_id, "您好？")
    assert over_console.status_code == 409, over_console.text
    assert over_console.json()["code"] == "over-quota"
    assert "上限" in over_console.json()["error"]
    assert texts_sent_to(app, openid) == ["您好，我是工作人员小王", "请问具体在哪里？"]
    assert transcript(app, handoff_id)[-2:] == [
        ("staff", "还在吗？", False),
        ("staff", "您好？", False),
    ]

    # The resident writes again: a new window, the count starts again.
    assert app.reply(app.post(app.signer.text(openid, "在幸福小区3号楼"))) is None
    assert console_reply(app, staff, handoff_id, "好的，马上登记").status_code == 200
    assert api_reply(app, handoff_id, "已经登记了").status_code == 200
    # Handing the resident back: the closing notice would be the third text.
    token = csrf_token(staff, f"/console/inbox/{handoff_id}")
    closed = staff.post(f"/console/inbox/{handoff_id}/close", data={"csrf_token": token})
    assert closed.status_code == 303 and closed.headers["location"].endswith("closed-unnotified")
    assert texts_sent_to(app, openid)[-2:] == ["好的，马上登记", "已经登记了"]


def handled_slowly(app: RunningApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message takes longer to handle than the deadline. A reply the bot knows without
    waiting on anything (no I/O that suspends) is ready when the deadline is checked, however
    short the deadline: these tests need the late path every time."""
    dispatcher = app.runtime.channel.dispatcher
    feed = dispatcher.feed_update

    async def slowly(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.05)
        return await feed(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "feed_update", slowly)


def test_the_quota_applies_to_late_replies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("INTAKE_CS_QUOTA", "0")
    caplog.set_level(logging.INFO)
    with running_app(tmp_path, INTAKE_REPLY_DEADLINE=0.001) as app:
        handled_slowly(app, monkeypatch)
        openid = "o-replies-late-01"
        assert app.post(app.signer.text(openid, "你好")).text == "success"  # answered late
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "late reply" not in caplog.text:
            time.sleep(0.05)
        assert texts_sent_to(app, openid) == []
        assert "late reply" in caplog.text and "not pushed" in caplog.text


def test_late_replies_each_answer_a_new_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_CS_QUOTA", "1")
    with running_app(tmp_path, INTAKE_REPLY_DEADLINE=0.001) as app:
        handled_slowly(app, monkeypatch)
        openid = "o-replies-late-02"
        for n, text in enumerate(("你好", "谢谢"), start=1):
            assert app.post(app.signer.text(openid, text)).text == "success"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(texts_sent_to(app, openid)) < n:
                time.sleep(0.05)
        assert len(texts_sent_to(app, openid)) == 2  # one text per message: within the quota
