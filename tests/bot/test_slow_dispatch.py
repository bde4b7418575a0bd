"""A dispatch system that takes seconds per call does not slow the replies: tickets are
handed over by the outbox worker, after the resident has the ticket number."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from testing.open311_fake import DEFAULT_API_KEY, FakeOpen311Server
from testing.servers import serve_asgi
from tests.bot.wechat_harness import RunningApp, running_app
from tests.dispatch.conftest import SERVICES

DISPATCH_DELAY = 3.0


def _say(app: RunningApp, openid: str, text: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = app.reply(app.post(app.signer.text(openid, text))) or ""
    return reply, time.monotonic() - started


def test_replies_keep_the_window_while_dispatch_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeOpen311Server(services=SERVICES, delay=DISPATCH_DELAY)
    with serve_asgi(fake.app, lifespan="off") as open311_url:
        monkeypatch.setenv("DISPATCH_BACKEND", "open311")
        monkeypatch.setenv("OPEN311_URL", open311_url)
        monkeypatch.setenv("OPEN311_API_KEY", DEFAULT_API_KEY)
        service_map = tmp_path / "services.yaml"
        service_map.write_text('report.streetlight: "001"\n', encoding="utf-8")
        monkeypatch.setenv("OPEN311_SERVICE_MAP", str(service_map))
        with running_app(tmp_path) as app:
            slowest = 0.0
            filed: list[str] = []
            for n in range(3):
                openid = f"o-slow-dispatch-{n}"
                for text in ("路灯坏了", f"幸福小区{n + 1}号楼东门", "13812345678", "确认"):
                    reply, took = _say(app, openid, text)
                    slowest = max(slowest, took)
                assert "工单号" in reply, reply
                filed.append(openid)
            assert slowest < 1.5, f"a reply took {slowest:.2f} s"
            # The tickets still reach the slow system, each in its own good time.
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and len(fake.requests) < len(filed):
                time.sleep(0.2)
            assert len(fake.requests) == len(filed)
