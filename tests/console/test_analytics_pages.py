"""分析 and 一张图 over real HTTP: hot spots, 三率, the quadrant chart and 每月一题 (pictures
and downloads), merge and split of a problem cluster (stored, audited, CSRF-checked),
alerts, and the map's data (points placed exactly or by area)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from integrations.analytics.service import Analytics
from integrations.db import create_engine
from integrations.tickets import TicketService
from tests.bot.wechat_harness import RunningApp
from tests.console.harness import audit_entries, csrf_token, database_url, run_sync

LAMP = [
    ("幸福小区3号楼东门", "路灯不亮，晚上很黑"),
    ("幸福小区3号楼东门口", "东门的路灯坏了好几天"),
    ("幸福小区3号楼东门外", "路灯一直不亮，老人走路不方便"),
]


def _api(app: RunningApp) -> httpx.Client:
    return httpx.Client(
        base_url=app.url,
        headers={"Authorization": f"Bearer {app.settings.server.admin_token}"},
        timeout=30,
    )


def _file(app: RunningApp, n: int, location: str, description: str, **extra: Any) -> str:
    body = {
        "category": "report.streetlight",
        "description": description,
        "location": location,
        "phone": f"1380013{n:04d}",
        "channel": "phone",
        **extra,
    }
    with _api(app) as client:
        response = client.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _hotspots(app: RunningApp) -> list[dict[str, Any]]:
    with _api(app) as client:
        items: list[dict[str, Any]] = client.get("/api/analytics/hotspots").json()["items"]
    return items


def _setup(app: RunningApp) -> list[str]:
    ids = [_file(app, n, *words) for n, words in enumerate(LAMP)]
    deadline = time.monotonic() + 20
    while not _hotspots(app):
        assert time.monotonic() < deadline, "the keeper clusters the new tickets"
        time.sleep(0.1)
    return ids


def test_analytics_page_charts_and_downloads(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    ids = _setup(console_app)
    page = staff.get("/console/analytics")
    assert page.status_code == 200, page.text
    text = page.text
    assert f'href="/console/analytics/clusters/{ids[0]}"' in text  # the hot spot
    assert "3位居民反映3次" in text
    assert 'class="rate-row thin"' in text and "市政照明管理处" in text  # 三率 by department
    assert 'src="/console/analytics/quadrants.png?' in text
    for group in ("street", "community", "category"):
        by = staff.get("/console/analytics", params={"group": group})
        assert by.status_code == 200
    assert "东城街道" in staff.get("/console/analytics", params={"group": "street"}).text
    # A bad period is said, not a 500.
    bad = staff.get("/console/analytics", params={"since": "昨天"})
    assert bad.status_code == 200 and "时间段有误" in bad.text

    chart = staff.get("/console/analytics/quadrants.png")
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    month = re.search(r'name="month" value="(\d{4}-\d{2})"', text)
    assert month
    png = staff.get("/console/analytics/monthly.png", params={"month": month.group(1)})
    assert png.content.startswith(b"\x89PNG")
    markdown = staff.get("/console/analytics/monthly.md", params={"month": month.group(1)})
    assert "| 1 | 东城街道 | 路灯不亮 | 3 |" in markdown.text
    csv = staff.get("/console/analytics/monthly.csv", params={"month": month.group(1)})
    assert "东城街道,路灯不亮,report.streetlight,3" in csv.text

    # Anonymous visitors are sent to the login.
    with httpx.Client(base_url=console_app.url) as anonymous:
        assert anonymous.get("/console/analytics").status_code == 303
        assert anonymous.get("/console/api/analytics/map").status_code == 401


def test_merge_and_split_in_the_console(console_app: RunningApp, staff: httpx.Client) -> None:
    ids = _setup(console_app)
    other = _file(console_app, 9, "和平小区5号楼", "路灯不亮")
    path = f"/console/analytics/clusters/{ids[0]}"
    page = staff.get(path)
    assert page.status_code == 200
    assert all(f'data-ticket-id="{t}"' in page.text for t in ids)
    token = csrf_token(staff, path)

    # Without the CSRF token: refused, nothing changes.
    refused = staff.post(f"{path}/split", data={"ticket": ids[2]})
    assert refused.status_code == 403

    split = staff.post(f"{path}/split", data={"ticket": ids[2], "csrf_token": token})
    assert split.status_code == 303, split.text
    assert split.headers["location"] == f"/console/analytics/clusters/{ids[2]}?done=split"
    moved = staff.get(split.headers["location"])
    assert "已拆分" in moved.text
    assert [s["ticket_ids"] for s in _hotspots(console_app)] == []  # two residents left

    # Nothing left on one side: refused with a reason.
    alone = staff.post(f"{path}/split", data={"ticket": ids[:2], "csrf_token": token})
    assert alone.status_code == 409 and "留下至少一张" in alone.text

    merged = staff.post(
        f"{path}/merge", data={"others": f"{ids[2]}，{other}", "csrf_token": token}
    )
    assert merged.status_code == 303, merged.text
    after = staff.get(merged.headers["location"])
    assert "已合并" in after.text and f'data-ticket-id="{other}"' in after.text
    assert {t for s in _hotspots(console_app) for t in s["ticket_ids"]} == {*ids, other}

    entries = audit_entries(database_url(console_app.settings.data_dir))
    actions = [(e.actor, e.action) for e in entries]
    assert ("zhang.staff", "cluster.split") in actions
    assert ("zhang.staff", "cluster.merge") in actions

    unknown = staff.get("/console/analytics/clusters/20990101-0001")
    assert unknown.status_code == 404


def test_alerts_are_listed_and_acknowledged(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    _setup(console_app)

    async def check() -> int:
        engine = create_engine(database_url(console_app.settings.data_dir))
        try:
            analytics = Analytics(TicketService(engine))
            return len(await analytics.alerts.check())
        finally:
            await engine.dispose()

    assert run_sync(check()) == 1  # the hot spot
    assert run_sync(check()) == 0  # found again: not repeated
    page = staff.get("/console/analytics")
    assert 'class="alert-row"' in page.text and "热点" in page.text
    alert = re.search(r'action="/console/analytics/alerts/(\d+)/ack"', page.text)
    assert alert
    token = csrf_token(staff, "/console/analytics")
    done = staff.post(f"/console/analytics/alerts/{alert.group(1)}/ack", data={"csrf_token": token})
    assert done.status_code == 303
    assert "zhang.staff 已读" in staff.get("/console/analytics").text


def test_map_data_places_tickets_by_coordinates_or_area(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    ids = _setup(console_app)
    exact = _file(
        console_app, 7, "人民路88号门口", "井盖没了", category="report.manhole",
        latitude=28.2015, longitude=112.9991,
    )
    nowhere = _file(console_app, 8, "某某大厦", "楼下路灯不亮")
    page = staff.get("/console/map")
    assert page.status_code == 200
    assert '<script src="/console/static/leaflet/leaflet.js"></script>' in page.text
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]
    data = staff.get("/console/api/analytics/map", params={"days": 30, "status": "all"}).json()
    placed = {t["id"]: t for t in data["tickets"]}
    assert placed[exact]["placed"] == "exact" and placed[exact]["lat"] == 28.2015
    for ticket_id in ids:  # 幸福小区 lies in 幸福社区, whose centre the grid rules give
        assert placed[ticket_id]["placed"] == "area"
        assert abs(placed[ticket_id]["lat"] - 28.208) < 0.01
    assert nowhere not in placed and data["unplaced"] == 1
    assert [c["id"] for c in data["clusters"]] == [ids[0]]
    assert [h["id"] for h in data["hotspots"]] == [ids[0]]
    assert {a["name"] for a in data["areas"]} >= {"东城街道", "幸福社区"}
    assert data["tiles"] is None
    only = staff.get(
        "/console/api/analytics/map", params={"category": "report.manhole", "status": "all"}
    ).json()
    assert [t["id"] for t in only["tickets"]] == [exact]
    area = staff.get("/console/api/analytics/map", params={"area": "光明社区"}).json()
    assert area["tickets"] == [] and area["clusters"] == []
    assert leaflet_served(staff)


def leaflet_served(client: httpx.Client) -> bool:
    script = client.get("/console/static/leaflet/leaflet.js")
    css = client.get("/console/static/leaflet/leaflet.css")
    return script.status_code == 200 and "Leaflet 1.9.4" in script.text and css.status_code == 200
