"""未诉先办 alerts from the database: a surge fires on a planted surge and not on steady
traffic; alerts are recorded once (deduplicated), shown, and posted to the webhook (a
loopback fake) signed, with retries when it fails."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from integrations.analytics.service import Analytics
from integrations.tickets import TicketService
from testing.servers import serve_asgi
from tests.analytics.conftest import MakeAnalytics
from tests.tickets.fakes import FakeClock

SECRET = "webhook-secret-0123456789"


class FakeWebhook:
    """Records what it is sent; ``fail`` answers 500."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None, bool]] = []
        self.fail = False
        self.app = FastAPI()

        @self.app.post("/alerts")
        async def alerts(request: Request) -> JSONResponse:
            body = await request.body()
            signature = request.headers.get("x-intake-signature")
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            self.received.append((json.loads(body), signature, signature == expected))
            return JSONResponse({"ok": not self.fail}, status_code=500 if self.fail else 200)


@pytest.fixture
def webhook() -> Iterator[tuple[FakeWebhook, str]]:
    fake = FakeWebhook()
    with serve_asgi(fake.app, name="fake-webhook") as url:
        yield fake, url + "/alerts"


async def _history(service: TicketService, clock: FakeClock) -> None:
    """Nine weeks: 东城街道 drainage about once a week, then eight in the last week from
    eight residents; 西城街道 drainage twice a week throughout (steady)."""
    start = clock.now
    n = 0

    async def report(days: float, location: str, words: str) -> None:
        nonlocal n
        n += 1
        clock.now = start + timedelta(days=days)
        await service.filing.file(
            category="report.drainage", description=words, location=location,
            phone=f"1370000{n:04d}", openid=f"oSurge{n:04d}",
        )

    for week in range(8):
        await report(7 * week + 1, "幸福路12号", "下水道堵了")
        await report(7 * week + 2, "光明小区2栋", "下水道返水")
        await report(7 * week + 5, "光明小区6栋", "井口冒污水")
    for day, (where, words) in enumerate(
        [
            ("幸福小区1号楼", "下水道堵塞污水漫出来"), ("幸福路8号", "雨后积水排不出去"),
            ("幸福里3栋", "下水道反味还堵了"), ("幸福小区7号楼", "楼下积水一大片"),
            ("幸福路30号", "下水井盖冒水"), ("幸福里9栋", "地漏返水"),
            ("幸福小区2号楼", "雨水管堵了"), ("幸福路2号", "路边积水很深"),
        ]
    ):
        await report(57 + day * 0.7, where, words)
    await report(58, "光明小区2栋", "下水道返水")
    await report(60, "光明小区6栋", "井口冒污水")
    clock.now = start + timedelta(days=63)


async def test_a_planted_surge_fires_and_steady_traffic_does_not(
    service: TicketService,
    make_analytics: MakeAnalytics,
    clock: FakeClock,
    webhook: tuple[FakeWebhook, str],
) -> None:
    fake, url = webhook
    await _history(service, clock)
    analytics: Analytics = make_analytics(service, webhook_url=url, webhook_secret=SECRET)
    await analytics.keeper.start()

    new = await analytics.alerts.check()
    surges = {(a.area, a.category) for a in new if a.kind == "surge"}
    assert ("东城街道", "report.drainage") in surges
    assert ("幸福社区", "report.drainage") in surges  # the community level too
    assert not any(area in ("西城街道", "光明社区") for area, _ in surges)  # steady
    street = next(a for a in new if a.kind == "surge" and a.area == "东城街道")
    payload = street.payload
    assert payload["count"] == 8 and payload["residents"] == 8
    assert payload["baseline"] == 1.0 and payload["ratio"] >= 8
    assert payload["clusters"]
    assert payload["why"].startswith("东城街道近7天“下水道堵塞”8件（8位居民）")
    assert street.webhook_status == "pending"

    # Found again an hour later: nothing new (deduplicated by area, category and week).
    clock.advance(hours=1)
    assert await analytics.alerts.check() == []

    # Delivered once each, signed; a second pass sends nothing more.
    sent = await analytics.alerts.deliver()
    assert sent == len(new) == len(fake.received)
    assert all(valid for _, _, valid in fake.received)
    kinds = {body["kind"] for body, _, _ in fake.received}
    assert "surge" in kinds
    got = next(b for b, _, _ in fake.received if b.get("key") == street.key)
    assert got["area"] == "东城街道" and got["why"] == payload["why"]
    assert await analytics.alerts.deliver() == 0
    assert {a.webhook_status for a in await analytics.alerts.recent()} == {"sent"}


async def test_a_failing_webhook_is_retried(
    service: TicketService,
    make_analytics: MakeAnalytics,
    clock: FakeClock,
    webhook: tuple[FakeWebhook, str],
) -> None:
    fake, url = webhook
    await _history(service, clock)
    analytics: Analytics = make_analytics(service, webhook_url=url)
    await analytics.keeper.start()
    new = await analytics.alerts.check()
    assert new
    fake.fail = True
    assert await analytics.alerts.deliver() == 0
    recent = {a.key: a for a in await analytics.alerts.recent()}
    assert all(a.webhook_attempts == 1 and a.webhook_error == "HTTP 500" for a in recent.values())
    assert await analytics.alerts.deliver() == 0  # backing off: not due yet
    assert len(fake.received) == len(new)
    fake.fail = False
    clock.advance(seconds=61)
    assert await analytics.alerts.deliver() == len(new)
    assert fake.received[-1][1] is None  # no secret configured: unsigned


async def test_without_a_webhook_alerts_stay_in_the_console(
    service: TicketService, analytics: Analytics, clock: FakeClock
) -> None:
    await _history(service, clock)
    await analytics.keeper.start()
    new = await analytics.alerts.check()
    assert new and {a.webhook_status for a in new} == {"off"}
    assert await analytics.alerts.deliver() == 0
