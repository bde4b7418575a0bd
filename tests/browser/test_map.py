"""一张图 in a real browser with no network beyond the app itself: the map library comes
from the console, the areas and points are drawn on a plain background (no base tiles
configured), tickets without coordinates sit in their area, filters redraw the map; the
analytics page shows its charts as pictures."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import Page, Route, expect

from tests.bot.wechat_harness import RunningApp
from tests.browser.conftest import log_in
from tests.console.harness import STAFF


def _file(app: RunningApp, n: int, location: str, description: str, **extra: Any) -> str:
    with httpx.Client(
        base_url=app.url, headers={"Authorization": f"Bearer {app.settings.server.admin_token}"}
    ) as client:
        response = client.post(
            "/api/tickets",
            json={
                "category": "report.streetlight",
                "description": description,
                "location": location,
                "phone": f"1380013{n:04d}",
                "channel": "phone",
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def _hotspots(app: RunningApp) -> list[Any]:
    with httpx.Client(
        base_url=app.url, headers={"Authorization": f"Bearer {app.settings.server.admin_token}"}
    ) as client:
        items: list[Any] = client.get("/api/analytics/hotspots").json()["items"]
        return items


def test_the_map_works_without_network(web_app: RunningApp, page: Page) -> None:
    first = _file(web_app, 1, "幸福小区3号楼东门", "路灯不亮，晚上很黑")
    _file(web_app, 2, "幸福小区3号楼东门口", "东门的路灯坏了好几天")
    _file(web_app, 3, "幸福小区3号楼东门外", "路灯一直不亮，老人走路不方便")
    _file(web_app, 4, "光明小区2栋", "路灯不亮")
    _file(
        web_app, 5, "人民路88号门口", "井盖没了", category="report.manhole",
        latitude=28.2015, longitude=112.9991,
    )
    deadline = time.monotonic() + 20
    while not _hotspots(web_app):
        assert time.monotonic() < deadline, "the keeper clusters the tickets"
        time.sleep(0.1)

    outside: list[str] = []

    def only_the_app(route: Route) -> None:
        if route.request.url.startswith(web_app.url):
            route.continue_()
        else:  # no CDN, no tiles, no fonts: anything else is a failure
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    log_in(page, web_app.url, *STAFF)
    page.click("nav a:has-text('一张图')")
    expect(page.locator("#map")).to_have_attribute("data-loaded", "1")
    expect(page.locator("#map-summary")).to_contain_text("5 张工单，1 个多人反映的问题，1 个热点")
    assert page.evaluate("typeof L !== 'undefined' && L.version") == "1.9.4"
    expect(page.locator("path.ticket-point")).to_have_count(5)
    expect(page.locator("path.ticket-exact")).to_have_count(1)  # the one with coordinates
    expect(page.locator("path.ticket-area")).to_have_count(4)  # placed in 幸福/光明社区
    expect(page.locator("path.hotspot-ring")).to_have_count(1)
    expect(page.locator("path.area-community")).to_have_count(5)
    expect(page.locator(".leaflet-tile")).to_have_count(0)  # a plain background
    expect(page.locator(".area-label", has_text="幸福社区")).to_be_visible()

    # A ticket placed by its area lies inside that area's circle on screen.
    inside = page.evaluate(
        """() => {
            const data = window.intakeMapData;
            const area = data.areas.find(a => a.name === "幸福社区");
            const t = data.tickets.find(t => t.area === "幸福社区");
            const d = L.latLng(area.lat, area.lon).distanceTo(L.latLng(t.lat, t.lon));
            return d <= area.radius_m;
        }"""
    )
    assert inside

    # The hot spot's popup links to its problem page.
    # A click on the ring itself (its outline is a few pixels wide: a click by coordinates
    # lands on the tickets under it as often as on the ring).
    page.locator("path.hotspot-ring").dispatch_event("click")
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(f"问题 {first}")
    expect(popup).to_contain_text("3 位居民")

    # A filter redraws the map.
    page.select_option("#map-filters select[name=category]", "report.manhole")
    expect(page.locator("#map-summary")).to_contain_text("1 张工单，0 个多人反映的问题")
    expect(page.locator("path.ticket-point")).to_have_count(1)

    # The analytics page: its charts are pictures that load.
    page.click("nav a:has-text('分析')")
    chart = page.locator("#quadrant-chart")
    expect(chart).to_be_visible()
    page.wait_for_function(
        "() => document.getElementById('quadrant-chart').naturalWidth > 0"
    )
    assert outside == [], outside
