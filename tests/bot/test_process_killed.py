"""Two app processes on one Redis and one PostgreSQL; the one a resident was talking to is
killed (SIGKILL) mid-conversation; the resident's next messages, to the other process,
continue the same conversation and file exactly one ticket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
import redis

from bot.wechat.simulator import CallbackRequest, CallbackSigner, reply_text
from integrations.db.migrate import upgrade_database
from integrations.wechat.fake_server import FakeWeChatAPI
from testing.servers import free_port, serve_wechat_fake
from tests.bot.wechat_harness import APP_ID, APP_SECRET, TOKEN, shared_model_dir
from tests.conftest import POSTGRES_TEST_URL, REDIS_TEST_URL, require_server
from tests.support.postgres import own_schema


@pytest.fixture
def pg_url() -> Iterator[str]:
    with own_schema("intake_kill") as schema:
        url = f"{POSTGRES_TEST_URL}?options={quote(f'-csearch_path={schema}')}"
        upgrade_database(url)  # once, before both processes start
        yield url


def _start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the app process exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the app process did not become healthy")


def _send(port: int, request: CallbackRequest) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/wechat", params=request.params, content=request.body, timeout=10
    )
    assert response.status_code == 200, response.text
    return reply_text(response.text, None) or ""


def test_killed_process_the_conversation_continues_on_another(
    tmp_path: Path, pg_url: str
) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    fake = FakeWeChatAPI(app_id=APP_ID, app_secret=APP_SECRET)
    with serve_wechat_fake(fake) as fake_url:
        env = {
            **os.environ,
            "INTAKE_DATA_DIR": str(tmp_path),
            "INTAKE_MODEL_DIR": str(shared_model_dir()),
            "DATABASE_URL": pg_url,
            "REDIS_URL": REDIS_TEST_URL,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_API_BASE_URL": fake_url,
            "INTAKE_ADMIN_TOKEN": "test-admin-token-0123456789",
            "INTAKE_LOG_LEVEL": "WARNING",
        }
        ports = [free_port(), free_port()]
        processes = [_start(port, env) for port in ports]
        try:
            for port, process in zip(ports, processes, strict=True):
                _wait_healthy(port, process)
            signer = CallbackSigner(TOKEN)
            openid = "o-killed-process"
            assert "什么位置" in _send(ports[0], signer.text(openid, "路灯坏了"))
            assert "联系电话" in _send(ports[0], signer.text(openid, "幸福小区3号楼东门"))

            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(timeout=10)

            checking = _send(ports[1], signer.text(openid, "13812345678"))
            assert "请核对" in checking and "幸福小区3号楼东门" in checking, checking
            confirm = signer.text(openid, "确认")
            filed = _send(ports[1], confirm)
            assert "工单号" in filed, filed
            assert _send(ports[1], confirm) == filed  # WeChat's retry: the same answer
            with psycopg.connect(pg_url, autocommit=True) as conn:
                count = conn.execute(
                    "SELECT count(*) FROM tickets WHERE openid = %s", (openid,)
                ).fetchone()
            assert count == (1,)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=20)
