"""The dispatch callback in the whole app (real HTTP, ticket service, SQLite file).

Issue 13: the seen event ids lived in the process's memory, so a captured ``rejected``
call sent again within the 5-minute window after a restart escalated the same ticket a
second time. Here the app is stopped and a new instance on the same database — and the
same Redis, in the second case — gets the replay. Also: rotating the callback secret.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot.api.dispatch_callback import (
    CALLBACK_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_callback,
)
from tests.bot.wechat_harness import RunningApp, running_app

SECRET = "Gm7q-callback-secret-R2xv9"


def _api(app: RunningApp) -> httpx.Client:
    return httpx.Client(
        base_url=app.url,
        headers={"Authorization": f"Bearer {app.settings.server.admin_token}"},
        timeout=30,
    )


def _dispatched_ticket(app: RunningApp) -> dict[str, Any]:
    with _api(app) as api:
        created = api.post(
            "/api/tickets",
            json={
                "category": "report.streetlight",
                "description": "路灯不亮了",
                "location": "幸福路88号",
                "phone": "13800000000",
            },
        )
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        moved = api.post(f"/api/tickets/{ticket_id}/status", json={"status": "dispatched"})
        # The in-process worker may have delivered it first (then it is dispatched already).
        assert moved.status_code == 200 or moved.json()["from"] == "dispatched", moved.text
        ticket: dict[str, Any] = api.get(f"/api/tickets/{ticket_id}").json()
    assert ticket["status"] == "dispatched"
    return ticket


def _ticket(app: RunningApp, ticket_id: str) -> dict[str, Any]:
    with _api(app) as api:
        ticket: dict[str, Any] = api.get(f"/api/tickets/{ticket_id}").json()
    return ticket


def _returns(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in ticket["history"] if e["actor"] == "dispatch-webhook"]


@pytest.mark.parametrize("state", ["memory", "redis"])
def test_a_rejection_replayed_after_a_restart_is_returned_once(
    tmp_path: Path, state: str, request: pytest.FixtureRequest
) -> None:
    options: dict[str, object] = {"INTAKE_DISPATCH_CALLBACK_SECRET": SECRET}
    if state == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        redis.Redis.from_url(redis_url).flushdb()
        options["REDIS_URL"] = redis_url
    with running_app(tmp_path, **options) as app:
        ticket = _dispatched_ticket(app)
        event = {"event_id": "evt-reject-1", "ticket_id": ticket["id"], "status": "rejected",
                 "note": "非本单位职责"}
        body = json.dumps(event, ensure_ascii=False)
        timestamp = str(int(time.time()))
        captured = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_callback(SECRET, timestamp, body.encode()),
        }
        first = httpx.post(app.url + CALLBACK_PATH, content=body, headers=captured, timeout=30)
        assert first.json() == {"ok": True, "duplicate": False}
        returned = _ticket(app, ticket["id"])
        assert returned["status"] == "returned"  # 退单, waiting for review
        assert len(_returns(returned)) == 1

    # The process is gone (its memory with it); a new one starts on the same database.
    with running_app(tmp_path, **options) as restarted:
        replay = httpx.post(
            restarted.url + CALLBACK_PATH, content=body, headers=captured, timeout=30
        )
        assert replay.status_code == 200
        assert replay.json() == {"ok": True, "duplicate": True}
        after = _ticket(restarted, ticket["id"])
        assert after["status"] == "returned"
        assert len(_returns(after)) == 1


def _send(url: str, body: bytes, secret: str) -> httpx.Response:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign_callback(secret, timestamp, body),
    }
    return httpx.post(url + CALLBACK_PATH, content=body, headers=headers, timeout=30)


def test_rotating_the_callback_secret(tmp_path: Path) -> None:
    """docs/security.md: new secret plus the previous one, then the new one alone."""
    old, new = SECRET, "Wd3k-rotated-callback-9Qz"

    def event(n: int, ticket_id: str) -> bytes:
        return json.dumps(
            {"event_id": f"evt-rotate-{n}", "ticket_id": ticket_id, "status": "in_progress"}
        ).encode()

    with running_app(
        tmp_path, INTAKE_DISPATCH_CALLBACK_SECRET=new, INTAKE_DISPATCH_CALLBACK_PREVIOUS_SECRET=old
    ) as app:
        ticket_id = _dispatched_ticket(app)["id"]
        assert _send(app.url, event(1, ticket_id), old).status_code == 200
        assert _send(app.url, event(2, ticket_id), new).status_code == 200
    with running_app(tmp_path, INTAKE_DISPATCH_CALLBACK_SECRET=new) as app:
        assert _send(app.url, event(3, ticket_id), old).status_code == 401
        assert _send(app.url, event(4, ticket_id), new).status_code == 200
