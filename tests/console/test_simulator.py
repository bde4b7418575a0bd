"""The resident simulator over real HTTP: its messages take the signed /wechat path (the
delivery ledger and the signature check both see them), FAQ and complaint conversations,
pushes shown to the right resident only, limits, and login in production."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.config import load_settings
from bot.runtime import Runtime
from testing.servers import serve_asgi
from tests.bot.wechat_harness import (
    AES_KEY,
    RunningApp,
    production_overrides,
    running_app,
    shared_model_dir,
    shared_nlu,
)
from tests.console.harness import STAFF, create_accounts, csrf_token, database_url

ALICE = "sim-alice000000000001"
BOB = "sim-bob00000000000002"


def _send(client: httpx.Client, openid: str, **payload: Any) -> httpx.Response:
    return client.post("/simulator/api/send", json={"openid": openid, **payload})


def _reply(client: httpx.Client, openid: str, text: str) -> str:
    response = _send(client, openid, text=text)
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert isinstance(reply, str), response.json()
    return reply


def _pushes(client: httpx.Client, openid: str, after: int = 0) -> dict[str, Any]:
    response = client.get("/simulator/api/pushes", params={"openid": openid, "after": after})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _wait_for_push(client: httpx.Client, openid: str, words: str, *, count: int) -> list[str]:
    """The resident's pushes once ``count`` of them contain ``words``."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        texts = [p["text"] for p in _pushes(client, openid)["pushes"]]
        if sum(words in t for t in texts) >= count:
            return texts
        time.sleep(0.1)
    raise AssertionError(f"no push with {words!r} for {openid}")


def _production_login(url: str, username: str, password: str) -> httpx.Client:
    """Log in although production cookies are ``Secure`` and the test server speaks plain
    HTTP: the cookies are copied over by hand (as a browser would over HTTPS)."""
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token
    client.cookies.set("intake_login_csrf", page.cookies["intake_login_csrf"])
    response = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )
    assert response.status_code == 303, response.text
    assert "secure" in response.headers["set-cookie"].lower()
    client.cookies.set("intake_console", response.cookies["intake_console"])
    return client


@pytest.fixture
def anonymous(console_app: RunningApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        yield client


def test_the_page_is_public_on_a_development_machine(anonymous: httpx.Client) -> None:
    page = anonymous.get("/simulator")
    assert page.status_code == 200
    for marker in ('id="sim-input"', 'id="sim-send"', 'id="sim-messages"', "simulator.js"):
        assert marker in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: the CSP would block it


def test_a_faq_question_is_answered_through_the_signed_callback(
    console_app: RunningApp, anonymous: httpx.Client
) -> None:
    response = _send(anonymous, ALICE, text="医保电子凭证怎么激活")
    assert response.status_code == 200
    result = response.json()
    assert result["reply"].startswith("【医保电子凭证激活与使用】")
    assert result["encrypted"] is False

    # WeChat retrying that very message (same MsgId) gets the recorded answer: the
    # delivery ledger of /wechat saw the simulator's message.
    retry = console_app.signer.text(ALICE, "完全不同的内容", msg_id=result["msg_id"])
    assert console_app.reply(console_app.post(retry)) == result["reply"]

    # A wrong signature is refused by /wechat, and the simulator says so.
    console_app.runtime.channel.token = "notthetoken"
    try:
        refused = _send(anonymous, ALICE, text="医保电子凭证怎么激活")
    finally:
        console_app.runtime.channel.token = console_app.settings.wechat.token or ""
    assert refused.status_code == 502
    assert "HTTP 403" in refused.json()["error"]


def test_a_complaint_becomes_a_ticket_and_its_status_is_pushed(
    console_app: RunningApp, anonymous: httpx.Client
) -> None:
    assert "什么位置" in _reply(anonymous, ALICE, "我家楼下的路灯坏了")
    assert "联系电话" in _reply(anonymous, ALICE, "幸福小区3号楼东门")
    assert "请核对" in _reply(anonymous, ALICE, "13812345678")
    created = _reply(anonymous, ALICE, "确认")
    ticket_id = created.split("工单号：", 1)[1][:13]
    assert ticket_id[8] == "-", created

    status = _send(anonymous, ALICE, event="click", key="MENU_STATUS")
    assert status.status_code == 200 and ticket_id in status.json()["reply"]
    # Bob is another resident: he has no tickets.
    other = _send(anonymous, BOB, event="click", key="MENU_STATUS")
    assert "没有正在办理的工单" in other.json()["reply"]

    # The ticket is dispatched by the in-process worker, and the resident told so.
    dispatched = _wait_for_push(anonymous, ALICE, "已派单", count=1)
    assert ticket_id in dispatched[0]
    changed = httpx.post(
        f"{console_app.url}/api/tickets/{ticket_id}/status",
        headers={"Authorization": f"Bearer {console_app.settings.server.admin_token}"},
        json={"status": "in_progress"},
    )
    assert changed.status_code == 200, changed.text
    texts = _wait_for_push(anonymous, ALICE, ticket_id, count=2)
    assert texts[0] == dispatched[0] and ticket_id in texts[1]
    assert _pushes(anonymous, BOB)["pushes"] == []


def test_staff_replies_show_up_for_that_resident_only(
    console_app: RunningApp, anonymous: httpx.Client
) -> None:
    assert "人工" in _reply(anonymous, ALICE, "转人工")
    assert _pushes(anonymous, ALICE) == {"available": True, "pushes": [], "next": 0, "total": 0}
    headers = {"Authorization": f"Bearer {console_app.settings.server.admin_token}"}
    handoffs = httpx.get(
        f"{console_app.url}/api/handoffs", headers=headers, params={"openid": ALICE}
    ).json()["items"]
    sent = httpx.post(
        f"{console_app.url}/api/handoffs/{handoffs[0]['id']}/messages",
        headers=headers,
        json={"text": "您好，我是工作人员小张"},
    )
    assert sent.status_code == 200, sent.text

    pushes = _pushes(anonymous, ALICE)
    assert pushes["pushes"] == [{"n": 0, "text": "您好，我是工作人员小张"}]
    assert _pushes(anonymous, ALICE, after=pushes["next"])["pushes"] == []
    assert _pushes(anonymous, BOB)["pushes"] == []

    # With WeChat's real API (no fake recording the pushes), nothing can be shown.
    fake, console_app.runtime.dev_wechat = console_app.runtime.dev_wechat, None
    try:
        unavailable = _pushes(anonymous, ALICE)
    finally:
        console_app.runtime.dev_wechat = fake
    assert unavailable["available"] is False and "无法显示" in unavailable["message"]


def test_menu_follow_and_location(anonymous: httpx.Client) -> None:
    welcome = _send(anonymous, ALICE, event="subscribe").json()["reply"]
    assert "欢迎关注" in welcome
    # Two clicks within a second are two clicks, not a retry of the first.
    first = _send(anonymous, ALICE, event="click", key="MENU_REPORT").json()["reply"]
    second = _send(anonymous, ALICE, event="click", key="MENU_REPORT").json()["reply"]
    assert "反映的问题" in first and first == second
    located = _send(
        anonymous,
        ALICE,
        location={"label": "幸福小区3号楼", "latitude": 39.9, "longitude": 116.4},
    )
    assert "收到位置：幸福小区3号楼" in located.json()["reply"]


def test_sizes_formats_and_origins_are_checked(anonymous: httpx.Client) -> None:
    assert _send(anonymous, ALICE, text="字" * 601).status_code == 413
    assert _send(anonymous, ALICE, text="   ").status_code == 400
    # Only simulated residents: nobody speaks as a real one through the simulator.
    assert _send(anonymous, "oRealResident0000000001", text="你好").status_code == 400
    assert _send(anonymous, ALICE, event="click", key="SOMETHING").status_code == 400
    assert _send(anonymous, ALICE, location={"label": "x", "latitude": 300}).status_code == 400
    form = anonymous.post("/simulator/api/send", data={"openid": ALICE, "text": "你好"})
    assert form.status_code == 415
    cross_site = anonymous.post(
        "/simulator/api/send",
        json={"openid": ALICE, "text": "你好"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert anonymous.get("/simulator/api/pushes", params={"openid": "x"}).status_code == 400


def test_sending_is_rate_limited_per_resident(anonymous: httpx.Client) -> None:
    for _ in range(30):
        assert _send(anonymous, ALICE, text="你好").status_code == 200
    limited = _send(anonymous, ALICE, text="你好")
    assert limited.status_code == 429 and "稍等" in limited.json()["error"]
    assert _send(anonymous, BOB, text="你好").status_code == 200


def test_safe_mode_messages_are_encrypted(tmp_path: Path) -> None:
    with running_app(tmp_path, WECHAT_ENCODING_AES_KEY=AES_KEY) as app:
        response = httpx.post(
            app.url + "/simulator/api/send",
            json={"openid": ALICE, "text": "医保电子凭证怎么激活"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["encrypted"] is True
        assert response.json()["reply"].startswith("【医保电子凭证激活与使用】")


def test_production_requires_a_console_login(tmp_path: Path, redis_url: str) -> None:
    create_accounts(database_url(tmp_path))
    with running_app(tmp_path, **production_overrides(redis_url)) as app:
        with httpx.Client(base_url=app.url, timeout=30) as anonymous:
            page = anonymous.get("/simulator")
            assert page.status_code == 303
            assert page.headers["location"].startswith("/console/login")
            assert _send(anonymous, ALICE, text="你好").status_code == 401
            assert (
                anonymous.get("/simulator/api/pushes", params={"openid": ALICE}).status_code == 401
            )
        staff = _production_login(app.url, *STAFF)
        try:
            assert staff.get("/simulator").status_code == 200
            assert _send(staff, ALICE, text="你好").status_code == 403  # no CSRF token
            response = staff.post(
                "/simulator/api/send",
                json={"openid": ALICE, "text": "医保电子凭证怎么激活"},
                headers={"X-CSRF-Token": csrf_token(staff, "/simulator")},
            )
            assert response.status_code == 200
            assert "医保电子凭证" in response.json()["reply"]
        finally:
            staff.close()


def test_development_default_shows_the_in_process_fakes_pushes(tmp_path: Path) -> None:
    """No WeChat credentials configured: pushes go to the runtime's own fake."""
    settings = load_settings(INTAKE_DATA_DIR=tmp_path, INTAKE_MODEL_DIR=shared_model_dir())
    runtime = Runtime.from_settings(settings, nlu=shared_nlu())
    assert runtime.dev_wechat is not None
    app = create_app(settings, runtime=runtime)
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert "人工" in _reply(client, ALICE, "转人工")
        headers = {"Authorization": f"Bearer {settings.server.admin_token}"}
        handoff = client.get("/api/handoffs", headers=headers, params={"openid": ALICE})
        handoff_id = handoff.json()["items"][0]["id"]
        sent = client.post(
            f"/api/handoffs/{handoff_id}/messages", headers=headers, json={"text": "您好"}
        )
        assert sent.status_code == 200, sent.text
        assert [p["text"] for p in _pushes(client, ALICE)["pushes"]] == ["您好"]
