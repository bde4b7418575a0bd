"""End to end over the signed WeChat callback: a resident reporting a problem an open ticket
already covers hears so before anything is filed, and chooses — follow that ticket (its
status pushes reach them; they count as one more resident) or file their own. Nothing is
filed or merged behind their back; a different problem at the same place files as usual."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.wechat.simulator import CallbackRequest
from tests.bot.wechat_harness import RunningApp, running_app

PLACE = "幸福小区3号楼东门"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RunningApp]:
    with running_app(tmp_path, INTAKE_CLUSTER_NOTICE=True) as running:
        yield running


class Resident:
    def __init__(self, app: RunningApp, openid: str) -> None:
        self.app = app
        self.openid = openid

    def say(self, text: str) -> str:
        request: CallbackRequest = self.app.signer.text(self.openid, text)
        reply = self.app.reply(self.app.post(request))
        assert reply is not None, text
        return reply

    def pushes(self) -> list[str]:
        return [
            str(call.json["text"]["content"])
            for call in self.app.fake.delivered_to(self.openid)
            if call.json.get("text")
        ]


def api(app: RunningApp) -> httpx.Client:
    return httpx.Client(
        base_url=app.url,
        headers={"Authorization": f"Bearer {app.settings.server.admin_token}"},
        timeout=10,
    )


def wait_until(condition: object, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def ticket_id(reply: str) -> str:
    found = re.search(r"工单号：(\d{8}-\d{4})", reply)
    assert found, reply
    return found.group(1)


def test_notice_follow_and_file_separately(app: RunningApp) -> None:
    with api(app) as staff:
        _conversations(app, staff)


def _conversations(app: RunningApp, staff: httpx.Client) -> None:
    keeper = app.runtime.analytics.keeper  # type: ignore[union-attr]
    wait_until(lambda: keeper.ready, "the clusters are built at start")

    a = Resident(app, "o-notice-a")
    assert "请核对" in a.say(f"{PLACE}的路灯坏了三天了，晚上黑乎乎的，电话13800000001")
    first = ticket_id(a.say("确认"))  # the first report: filed at once
    wait_until(lambda: keeper.cluster_of(first) == first, "the new ticket is clustered")

    # B: the same lamp in other words. Told before filing; files their own ("2").
    b = Resident(app, "o-notice-b")
    assert "请核对" in b.say(f"{PLACE}路灯不亮，晚上很黑，电话13800000002")
    notice = b.say("确认")
    assert f"这个问题附近已有 1 位居民反映，工单 {first} 正在办理" in notice
    assert "回复“1”关注" in notice and "回复“2”单独提交" in notice
    assert staff.get("/api/tickets", params={"openid": b.openid}).json()["items"] == []
    second = ticket_id(b.say("2"))
    assert second != first
    wait_until(lambda: keeper.cluster_of(second) == first, "B's ticket joins the cluster")

    # C: follows the open ticket instead of filing ("1"): no ticket of their own.
    c = Resident(app, "o-notice-c")
    assert "请核对" in c.say(f"{PLACE}那里的路灯坏了，一到晚上就黑，电话13800000003")
    notice = c.say("确认")
    assert f"这个问题附近已有 2 位居民反映，工单 {first} 正在办理" in notice
    followed = c.say("1")
    assert f"已为您关注工单 {first}" in followed
    assert staff.get("/api/tickets", params={"openid": c.openid}).json()["items"] == []

    # The ticket moves on: its resident and its follower both hear of it.
    moved = staff.post(
        f"/api/tickets/{first}/status", json={"status": "in_progress", "staff": "王"}
    )
    assert moved.status_code == 200, moved.text
    wait_until(
        lambda: any(f"您关注的“路灯不亮”问题（工单号{first}）正在处理中" in p for p in c.pushes()),
        "the follower gets the status push",
    )
    wait_until(lambda: any("正在处理中" in p for p in a.pushes()), "the resident gets it")

    # D: a different problem at the same place is filed at once, no notice.
    d = Resident(app, "o-notice-d")
    assert "请核对" in d.say(f"{PLACE}的垃圾桶满了好几天没人清运，电话13800000004")
    ticket_id(d.say("确认"))

    # E: the lamp again — three residents now (A, B and the follower C).
    e = Resident(app, "o-notice-e")
    assert "请核对" in e.say(f"{PLACE}的路灯还是不亮，电话13800000005")
    notice = e.say("确认")
    assert f"这个问题附近已有 3 位居民反映，工单 {first} 正在办理" in notice
    # Something else in between keeps the choice open; "取消" ends it, nothing filed.
    assert "回复“1”关注已有的工单" in e.say("什么意思")
    assert "没有生成工单" in e.say("取消")
    assert staff.get("/api/tickets", params={"openid": e.openid}).json()["items"] == []

    # The hot spot counts the follower as a resident.
    spots = staff.get("/api/analytics/hotspots").json()["items"]
    assert [(s["id"], s["residents"], s["ticket_ids"]) for s in spots] == [
        (first, 3, [first, second])
    ]
