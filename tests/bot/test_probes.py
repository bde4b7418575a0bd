"""What the Kubernetes probes of deploy/k8s read: ``/livez`` answers while the database is
away (``/healthz`` does not), and ``intake worker`` keeps its heartbeat file fresh until it
is stopped."""

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
import pytest

from tests.bot.wechat_harness import running_app
from tests.support.postgres import own_schema
from tests.support.tcp_proxy import tcp_proxy


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with own_schema("intake_probes") as schema:
        yield schema


def test_livez_answers_while_the_database_is_away_and_healthz_says_so(
    tmp_path: Path, pg_schema: str
) -> None:
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        url = (
            f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
            f"?options={quote(f'-csearch_path={pg_schema}')}"
        )
        with running_app(tmp_path, DATABASE_URL=url) as app:
            assert httpx.get(app.url + "/livez").json() == {"ok": True}
            assert httpx.get(app.url + "/healthz").status_code == 200
            proxy.cut()
            health = httpx.get(app.url + "/healthz", timeout=10)
            assert health.status_code == 503
            assert health.json()["checks"]["database"] is False
            live = httpx.get(app.url + "/livez", timeout=10)
            assert live.status_code == 200 and live.json() == {"ok": True}
            proxy.restore()


def test_the_worker_keeps_its_heartbeat_file_fresh_until_stopped(tmp_path: Path) -> None:
    beat = tmp_path / "run" / "worker-heartbeat"
    env = {
        **os.environ,
        "INTAKE_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}",
        "INTAKE_WORKER_HEARTBEAT_FILE": str(beat),
        # No network at run time: nothing is pushed, but never aim at WeChat from a test.
        "WECHAT_API_BASE_URL": "http://127.0.0.1:9",
    }
    for name in ("INTAKE_ENV", "REDIS_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not beat.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no heartbeat file"
            time.sleep(0.1)
        # Age the file as a stuck process would leave it; the worker freshens it again.
        old = time.time() - 600
        os.utime(beat, (old, old))
        deadline = time.monotonic() + 15
        while beat.stat().st_mtime < old + 1:
            assert time.monotonic() < deadline, "the heartbeat stopped"
            time.sleep(0.2)
        assert time.time() - beat.stat().st_mtime < 15
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        stopped_at = beat.stat().st_mtime
        time.sleep(0.5)
        assert beat.stat().st_mtime == stopped_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
