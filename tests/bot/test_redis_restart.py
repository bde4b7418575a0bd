"""Redis restarting under a running app (a real redis-server, killed and started again):
residents get a polite holding reply meanwhile, the app recovers without a restart,
conversations restart politely, and no ticket is lost or doubled."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from bot.wechat.simulator import CallbackRequest
from policies.messages import STATE_UNAVAILABLE
from tests.bot.wechat_harness import RunningApp, running_app
from tests.support.redis_server import own_redis

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


def _send(app: RunningApp, request: CallbackRequest) -> str:
    response = app.post(request)
    assert response.status_code == 200, response.text
    return app.reply(response) or ""


def _tickets(app: RunningApp, openid: str) -> list[str]:
    service = app.runtime.ticket_service
    assert service is not None
    return [t.id for t in asyncio.run(service.queries.list_for_resident(openid, False))]


def _file_complaint(app: RunningApp, openid: str) -> tuple[str, CallbackRequest]:
    for text in ("路灯坏了", "幸福小区3号楼东门", "13812345678"):
        _send(app, app.signer.text(openid, text))
    confirm = app.signer.text(openid, "确认")
    reply = _send(app, confirm)
    assert "工单号" in reply, reply
    return reply, confirm


def test_redis_restart_mid_conversation(tmp_path: Path) -> None:
    with own_redis(tmp_path) as redis, running_app(tmp_path, REDIS_URL=redis.url) as app:
        _, confirm_a = _file_complaint(app, "o-redis-a")
        assert len(_tickets(app, "o-redis-a")) == 1
        _send(app, app.signer.text("o-redis-b", "路灯坏了"))
        _send(app, app.signer.text("o-redis-b", "幸福小区3号楼东门"))

        redis.kill()
        assert _send(app, app.signer.text("o-redis-b", "13812345678")) == STATE_UNAVAILABLE
        health = httpx.get(app.url + "/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["checks"]["state"] is False

        redis.start()  # empty: dedup keys and conversation states are gone
        # The app reconnects by itself; the interrupted conversation restarts politely.
        after = _send(app, app.signer.text("o-redis-b", "13812345678"))
        assert after and after != STATE_UNAVAILABLE
        assert httpx.get(app.url + "/healthz", timeout=10).status_code == 200
        _file_complaint(app, "o-redis-b")
        # WeChat retrying A's confirmation now (its dedup key was lost) files nothing new.
        _send(app, confirm_a)
        assert len(_tickets(app, "o-redis-a")) == 1
        assert len(_tickets(app, "o-redis-b")) == 1
        status = _send(app, app.signer.text("o-redis-a", "我的工单办得怎么样了"))
        assert _tickets(app, "o-redis-a")[0] in status
