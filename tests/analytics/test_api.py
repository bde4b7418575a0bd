"""The analytics API over the real database (SQLite and PostgreSQL): 三率 of a hand-made set
of tickets against figures computed by hand, hot spots, 每月一题, bearer token, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from bot.api.analytics import create_analytics_router
from integrations.analytics.service import Analytics
from integrations.tickets import TicketService
from tests.tickets.fakes import FakeClock

TOKEN = "analytics-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(analytics: Analytics) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(create_analytics_router(analytics.reports, admin_token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _file(service: TicketService, category: str, n: int) -> str:
    ticket = await service.filing.file(
        category=category,
        description="路灯不亮" if category == "report.streetlight" else "井盖破了",
        location=f"幸福小区{n}号楼",
        phone=f"1380000{n:04d}",
        openid=f"oRes{n:04d}",
    )
    return ticket.id


async def test_three_rates_match_hand_computed_values(
    service: TicketService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    start = clock.now
    lamp = [await _file(service, "report.streetlight", n) for n in (1, 2, 3)]
    hole = [await _file(service, "report.manhole", n) for n in (4, 6)]
    t1, t2, _t3 = lamp  # t3: never touched
    t4, t6 = hole

    def at(hours: float) -> None:
        clock.now = start
        clock.advance(hours=hours)

    # 签收 limits in working time (policies/data/sla.yaml): manholes half an hour, streetlights
    # two hours; the clock starts on Monday 23 November at 10:00 in Beijing.
    at(0.25)
    await service.status.transition(t4, "in_progress", actor="staff:王")  # signed in time
    at(0.4)
    await service.status.transition(t6, "rejected", note="不属于受理范围", actor="staff:王")
    at(2)
    await service.status.transition(t1, "in_progress", actor="staff:王")  # signed in time
    at(5)
    await service.status.transition(t4, "resolved", note="已修复", actor="staff:王")
    await service.rating.rate(t4, "basically_satisfied")
    at(10)
    await service.status.transition(t1, "resolved", note="已修复", actor="staff:王")
    await service.rating.rate(t1, "satisfied")
    at(30)
    await service.status.transition(t2, "in_progress", actor="staff:王")  # signed late
    at(40)
    await service.status.transition(t2, "resolved", note="已修复", actor="staff:王")
    await service.rating.rate(t2, "unsatisfied", "还是不亮")  # reopened: unresolved again
    at(99)  # Friday 13:00: its 签收 clock starts at 13:30, due at 15:30
    await _file(service, "report.streetlight", 5)  # too recent to be judged on anything
    at(100)

    response = await client.get(
        "/api/analytics/rates", params={"group": "department"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    rows = {row["group"]: row for row in response.json()["items"]}
    lights = rows["市政照明管理处"]
    # Response: t1 in time, t2 late, t3 never signed (past its deadline); t5 not judged yet.
    assert (lights["received"], lights["responded_in_time"], lights["response_judged"]) == (
        4, 1, 3,
    )
    assert lights["response_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # Resolution: t1 finished; t2 reopened and t3 untouched, both past their 3 working days
    # (Thursday 18:00); t5 not judged.
    assert (lights["resolved"], lights["resolution_judged"]) == (1, 3)
    assert lights["resolution_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # Satisfaction: t1 satisfied, t2 unsatisfied.
    assert (lights["rated"], lights["satisfied"], lights["satisfaction_rate"]) == (2, 1, 0.5)
    assert lights["score"] == pytest.approx(30 / 3 + 35 / 3 + 35 * 0.5, abs=0.1)
    roads = rows["市政管理处"]
    # t4 signed in 15 minutes, t6 rejected (acted on) in 24: both within half an hour.
    assert (roads["received"], roads["responded_in_time"], roads["response_judged"]) == (2, 2, 2)
    # Rejected tickets are not judged on resolution or satisfaction.
    assert (roads["resolved"], roads["resolution_judged"]) == (1, 1)
    assert (roads["rated"], roads["satisfied"], roads["satisfaction_rate"]) == (1, 1, 1.0)

    # By category and street; a period that excludes everything.
    by_street = await client.get(
        "/api/analytics/rates", params={"group": "street"}, headers=AUTH
    )
    assert [r["group"] for r in by_street.json()["items"]] == ["东城街道"]
    empty = await client.get(
        "/api/analytics/rates",
        params={"group": "category", "since": "2026-01-01", "until": "2026-01-31"},
        headers=AUTH,
    )
    assert empty.json()["items"] == []


async def test_bad_parameters_and_missing_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/analytics/hotspots")).status_code == 401
    for path, params in (
        ("/api/analytics/rates", {"group": "weather"}),
        ("/api/analytics/rates", {"since": "yesterday"}),
        ("/api/analytics/rates", {"since": "2026-07-02", "until": "2026-07-01"}),
        ("/api/analytics/monthly", {"month": "2026-13"}),
        ("/api/analytics/monthly", {}),
        ("/api/analytics/hotspots", {"days": "0"}),
    ):
        response = await client.get(path, params=params, headers=AUTH)
        assert response.status_code == 422, (path, params, response.text)


async def test_hotspots_and_monthly(
    service: TicketService, analytics: Analytics, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ids = []
    wordings = [
        ("解放路与中山街路口", "井盖没了，晚上很危险"),
        ("中山街解放路口东侧", "路口的井盖丢了好几天了"),
        ("解放路中山街交叉口北侧", "井盖缺失，有人差点掉进去"),
    ]
    for n, (location, description) in enumerate(wordings):
        ticket = await service.filing.file(
            category="report.manhole", description=description, location=location,
            phone=f"1390000{n:04d}", openid=f"oHot{n}",
        )
        ids.append(ticket.id)
        clock.advance(hours=2)
    lamps = [
        await service.filing.file(
            category="report.streetlight", description=words, location="幸福小区3号楼",
            phone=f"1390000999{n}", openid=f"oLamp{n}",
        )
        for n, words in enumerate(["路灯不亮", "楼下路灯不亮了", "小区路灯坏了好几天"])
    ]
    two = lamps[0]
    await analytics.keeper.start()

    response = await client.get("/api/analytics/hotspots", params={"days": 30}, headers=AUTH)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 1
    spot = items[0]
    assert spot["id"] == ids[0] and spot["ticket_ids"] == ids
    assert spot["residents"] == 3 and spot["category"] == "report.manhole"
    assert spot["score"] >= 2.0 and "3位居民反映3次" in spot["why"]
    assert {"id", "label", "category", "area", "ticket_ids", "residents", "score"} <= set(spot)
    assert two.id not in spot["ticket_ids"]

    monthly = await client.get(
        "/api/analytics/monthly", params={"month": "2026-11"}, headers=AUTH
    )
    assert monthly.status_code == 200
    ranked = monthly.json()["items"]
    # The crossing lies in no street of the grid rules: only the estate's class is ranked.
    assert [
        (r["rank"], r["area"], r["category"], r["tickets"], r["residents"]) for r in ranked
    ] == [(1, "东城街道", "report.streetlight", 3, 3)]
    assert ranked[0]["repeats"] == 2  # the second and third joined the first one's cluster
    assert ranked[0]["score"] == 65.0  # 30 + 20 + 15: none overdue, reopened or dissatisfied
    by_community = await client.get(
        "/api/analytics/monthly", params={"month": "2026-11", "level": "community"},
        headers=AUTH,
    )
    assert [r["area"] for r in by_community.json()["items"]] == ["幸福社区"]
