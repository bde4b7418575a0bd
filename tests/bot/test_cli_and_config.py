"""Start-up behaviour: settings, `intake serve` on the embedded default, `intake chat`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from core.errors import ConfigurationError
from testing.servers import free_port
from tests.bot.wechat_harness import shared_model_dir

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECHAT_", "INTAKE_", "REDIS_URL", "DATABASE_URL"))
    }
    # a model trained once for the test run, so each process only loads it
    env.update({"INTAKE_DATA_DIR": str(tmp), "INTAKE_MODEL_DIR": str(shared_model_dir()), **extra})
    return env


def test_development_generates_secrets_once_and_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "INTAKE_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    first = load_settings(INTAKE_DATA_DIR=tmp_path)
    assert set(first.generated_secrets) == {
        "WECHAT_TOKEN",
        "WECHAT_APP_ID",
        "WECHAT_APP_SECRET",
        "INTAKE_ADMIN_TOKEN",
        "INTAKE_PERSONAL_DATA_KEY",
    }
    second = load_settings(INTAKE_DATA_DIR=tmp_path)
    assert second.wechat.token == first.wechat.token
    assert second.server.admin_token == first.server.admin_token
    assert second.privacy.key == first.privacy.key  # sealed phones still open
    assert oct((tmp_path / "dev-secrets.json").stat().st_mode & 0o777) == "0o600"
    configured = load_settings(INTAKE_DATA_DIR=tmp_path, WECHAT_TOKEN="mytoken123")
    assert configured.wechat.token == "mytoken123"
    assert "WECHAT_TOKEN" not in configured.generated_secrets


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "WECHAT_TOKEN is not set"),
        (
            {"WECHAT_TOKEN": "tok123", "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s"},
            "INTAKE_ADMIN_TOKEN is not set",
        ),
        (
            {
                "WECHAT_TOKEN": "bad token!",
                "WECHAT_APP_ID": "wx1",
                "WECHAT_APP_SECRET": "s",
                "INTAKE_ADMIN_TOKEN": "x" * 20,
            },
            "WECHAT_TOKEN must be",
        ),
        (
            {
                "WECHAT_TOKEN": "tok123",
                "WECHAT_APP_ID": "wx1",
                "WECHAT_APP_SECRET": "s",
                "INTAKE_ADMIN_TOKEN": "short",
            },
            "at least 16",
        ),
        (
            {
                "WECHAT_TOKEN": "tok123",
                "WECHAT_APP_ID": "wx1",
                "WECHAT_APP_SECRET": "s",
                "INTAKE_ADMIN_TOKEN": "x" * 20,
                "WECHAT_ENCODING_AES_KEY": "tooshort",
            },
            "WECHAT_ENCODING_AES_KEY is invalid",
        ),
    ],
)
def test_production_refuses_missing_or_invalid_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], message: str
) -> None:
    for name in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "INTAKE_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(INTAKE_ENV="production", INTAKE_DATA_DIR=tmp_path, **overrides)


def test_serve_in_production_without_secrets_prints_one_line_and_exits(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(tmp_path, INTAKE_ENV="production"),
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "intake: configuration error: WECHAT_TOKEN is not set (required when INTAKE_ENV=production)"
    ]



def test_serve_starts_on_the_embedded_default_with_nothing_configured(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "intake serve did not come up"
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json()["checks"] == {"state": True, "database": True}
        assert (tmp_path / "intake.db").exists()
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert "WECHAT_TOKEN=" in output  # the generated development secrets are printed
    assert "state in memory" in output


def test_chat_talks_through_the_signed_webhook(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        cwd=ROOT,
        env=_env(tmp_path),
        input="你好\n/location 幸福路88号\n/quit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "机器人> " in result.stdout
    assert "幸福路88号" in result.stdout
