"""Issue 13: production refuses what is unsafe, with one clear line each, and closes what
should not be public (API docs, ``/model/parse``, plain-mode messages in safe mode)."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.cli import _print_dev_banner
from bot.config import load_settings
from bot.wechat.simulator import CallbackSigner
from core.errors import ConfigurationError
from tests.bot.test_cli_and_config import ROOT, _env
from tests.bot.wechat_harness import TOKEN, production_overrides, running_app
from tests.conftest import REDIS_TEST_URL

FRESH_AES_KEY = base64.b64encode(os.urandom(32)).decode().rstrip("=")

#: a production configuration that passes every check
GOOD = {
    "INTAKE_ENV": "production",
    "WECHAT_TOKEN": "Zq4wTn8uKc2hRb6yLp0x",
    "WECHAT_APP_ID": "wx1234567890abcdef",
    "WECHAT_APP_SECRET": "3f9c1a7e5b2d8f4a6c0e9b7d5a3f1c8e",
    "INTAKE_ADMIN_TOKEN": "k9Vd-2pQx_7LmN4rTs8wYb1c",
    "INTAKE_PERSONAL_DATA_KEY": "Hq7vX2mR9kLp4TzN8cWb5JdF3sGy6Ue1",
    "WECHAT_ENCODING_AES_KEY": FRESH_AES_KEY,
    "REDIS_URL": REDIS_TEST_URL,  # not connected to: settings only
}

_SECRET_VARIABLES = (
    "WECHAT_TOKEN",
    "WECHAT_APP_ID",
    "WECHAT_APP_SECRET",
    "WECHAT_ENCODING_AES_KEY",
    "INTAKE_ADMIN_TOKEN",
    "INTAKE_DISPATCH_CALLBACK_SECRET",
    "INTAKE_ALLOW_PLAIN_MODE",
    "INTAKE_API_DOCS",
    "REDIS_URL",
    "INTAKE_PERSONAL_DATA_KEY",
    "INTAKE_PERSONAL_DATA_PREVIOUS_KEY",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- start-up refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"WECHAT_APP_SECRET": "s"}, "WECHAT_APP_SECRET is too short"),
        ({"INTAKE_ADMIN_TOKEN": "a" * 32}, "INTAKE_ADMIN_TOKEN is too repetitive"),
        ({"INTAKE_ADMIN_TOKEN": "abababababababababab"}, "INTAKE_ADMIN_TOKEN is too repetitive"),
        ({"WECHAT_TOKEN": "tok123"}, "WECHAT_TOKEN is too short"),
        (
            {"WECHAT_APP_SECRET": "changeme-please-1234"},
            "WECHAT_APP_SECRET looks like a placeholder",
        ),
        (
            {"INTAKE_ADMIN_TOKEN": "your-admin-token-here"},
            "INTAKE_ADMIN_TOKEN looks like a placeholder",
        ),
        (
            # WeChat's own documentation sample key
            {"WECHAT_ENCODING_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"},
            "WECHAT_ENCODING_AES_KEY is a published example",
        ),
        ({"WECHAT_ENCODING_AES_KEY": "A" * 43}, "WECHAT_ENCODING_AES_KEY is too repetitive"),
        (
            {"INTAKE_DISPATCH_CALLBACK_SECRET": "the-shared-secret"},
            "INTAKE_DISPATCH_CALLBACK_SECRET is a published example",
        ),
        ({"REDIS_URL": None}, "REDIS_URL is not set"),
        ({"WECHAT_ENCODING_AES_KEY": None}, "INTAKE_ALLOW_PLAIN_MODE=true"),
        # Issue 13: the key sealing phone numbers in Redis
        ({"INTAKE_PERSONAL_DATA_KEY": None}, "INTAKE_PERSONAL_DATA_KEY is not set"),
        ({"INTAKE_PERSONAL_DATA_KEY": "key"}, "INTAKE_PERSONAL_DATA_KEY is too short"),
        ({"INTAKE_PERSONAL_DATA_KEY": "ab" * 16}, "INTAKE_PERSONAL_DATA_KEY is too repetitive"),
    ],
)
def test_production_refuses_unsafe_settings(
    tmp_path: Path, changes: dict[str, str | None], message: str
) -> None:
    values = {**GOOD, **changes}
    with pytest.raises(ConfigurationError, match=message) as refused:
        load_settings(
            INTAKE_DATA_DIR=tmp_path, **{k: v for k, v in values.items() if v is not None}
        )
    assert "\n" not in str(refused.value)


def test_production_accepts_good_secrets_and_explicit_plain_mode(tmp_path: Path) -> None:
    settings = load_settings(INTAKE_DATA_DIR=tmp_path, **GOOD)
    assert settings.wechat.encoding_aes_key and not settings.plain_mode_accepted
    assert not settings.api_docs_enabled
    plain = {k: v for k, v in GOOD.items() if k != "wechat_encoding_aes_key"}
    settings = load_settings(INTAKE_DATA_DIR=tmp_path, INTAKE_ALLOW_PLAIN_MODE=True, **plain)
    assert settings.plain_mode_accepted


def _serve(tmp: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """``intake serve`` in production with the good settings, ``variables`` changed (an
    empty value: left out)."""
    settings = {**GOOD, **variables}
    env = _env(tmp, **{name: value for name, value in settings.items() if value})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        (
            {"WECHAT_APP_SECRET": "s"},
            "WECHAT_APP_SECRET is too short: use at least 16 random characters",
        ),
        ({"REDIS_URL": ""}, "REDIS_URL is not set (required when INTAKE_ENV=production"),
        ({"WECHAT_ENCODING_AES_KEY": ""}, "WECHAT_ENCODING_AES_KEY is not set: production"),
    ],
)
def test_serve_in_production_refuses_with_one_line(
    tmp_path: Path, variables: dict[str, str], line: str
) -> None:
    result = _serve(tmp_path, **variables)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("intake: configuration error: " + line)


# -- what production closes -----------------------------------------------------------------


def test_production_closes_the_api_docs_and_guards_model_parse(
    tmp_path: Path, redis_url: str
) -> None:
    with running_app(tmp_path, **production_overrides(redis_url)) as app:
        for path in ("/api/docs", "/redoc", "/openapi.json"):
            assert httpx.get(app.url + path).status_code == 404, path
        text = {"text": "路灯坏了，电话13912345678"}
        anonymous = httpx.post(app.url + "/model/parse", json=text)
        assert anonymous.status_code == 401
        assert "13912345678" not in anonymous.text
        bearer = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
        allowed = httpx.post(app.url + "/model/parse", json=text, headers=bearer, timeout=30)
        assert allowed.status_code == 200
        assert allowed.json()["intent"]["name"] == "report.streetlight"


def test_api_docs_can_be_opened_in_production_explicitly(tmp_path: Path, redis_url: str) -> None:
    with running_app(tmp_path, INTAKE_API_DOCS=True, **production_overrides(redis_url)) as app:
        assert httpx.get(app.url + "/api/docs").status_code == 200
        assert httpx.get(app.url + "/openapi.json").status_code == 200


def test_development_keeps_docs_and_model_parse_open(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        assert httpx.get(app.url + "/api/docs").status_code == 200
        assert httpx.get(app.url + "/openapi.json").status_code == 200
        assert httpx.post(app.url + "/model/parse", json={"text": "你好"}).status_code == 200


def test_production_in_safe_mode_refuses_plain_mode_messages(
    tmp_path: Path, redis_url: str
) -> None:
    with running_app(tmp_path, **production_overrides(redis_url)) as app:
        plain = CallbackSigner(TOKEN).sign(
            CallbackSigner(TOKEN).message_xml(
                "o-plain-1", "text", 1_700_000_000, Content="你好", MsgId="1"
            )
        )
        refused = app.post(plain)
        assert refused.status_code == 403
        assert "plain-mode" in refused.text
        # WeChat's safe-mode messages go through.
        assert app.reply(app.post(app.signer.text("o-safe-1", "你好")))


def test_explicit_plain_mode_in_production_warns_loudly(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = production_overrides(redis_url)
    del overrides["WECHAT_ENCODING_AES_KEY"]
    caplog.set_level(logging.WARNING, logger="bot.app")
    with running_app(tmp_path, INTAKE_ALLOW_PLAIN_MODE=True, **overrides) as app:
        assert app.reply(app.post(app.signer.text("o-plain-2", "你好")))
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert len(warnings) == 1
    assert warnings[0].startswith("PLAIN MODE")
    assert "NOT the message body" in warnings[0]


# -- the development banner -----------------------------------------------------------------


def test_development_banner_prints_only_generated_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configured_token = "myOwnConfiguredToken42"
    configured_admin = "my-own-configured-admin-token"
    settings = load_settings(
        INTAKE_DATA_DIR=tmp_path,
        WECHAT_TOKEN=configured_token,
        INTAKE_ADMIN_TOKEN=configured_admin,
    )
    assert set(settings.generated_secrets) == {
        "WECHAT_APP_ID",
        "WECHAT_APP_SECRET",
        "INTAKE_PERSONAL_DATA_KEY",
    }
    _print_dev_banner(settings)
    printed = capsys.readouterr().out
    assert settings.privacy.key and settings.privacy.key not in printed
    assert configured_token not in printed and configured_admin not in printed
    assert "WECHAT_TOKEN=" not in printed and "INTAKE_ADMIN_TOKEN=" not in printed
    assert f"WECHAT_APP_ID={settings.wechat.app_id}" in printed
