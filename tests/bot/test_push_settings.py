"""The settings of pushes that arrive (issue 17): subscription messages and the SMS hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from core.errors import ConfigurationError
from core.settings import Settings
from integrations.tickets import TicketConfig
from tests.bot.test_production_safety import GOOD


def test_push_settings_reach_the_ticket_config() -> None:
    settings = Settings.read({
        "WECHAT_SUBSCRIBE_TEMPLATE_ID": "SUB-1",
        "INTAKE_SUBSCRIBE_KIND": "long_term",
        "WECHAT_SUBSCRIBE_FIELDS": "thing1=remark",
        "WECHAT_SUBSCRIBE_PAGE": "https://city.example/t",
        "INTAKE_SMS_HOOK_URL": "https://sms.example/hook",
        "INTAKE_SMS_HOOK_SECRET": "a-long-random-hook-secret-42",
    })
    config = TicketConfig.from_settings(settings)
    assert (config.subscription_template_id, config.subscription_kind) == ("SUB-1", "long_term")
    assert config.subscription_fields == "thing1=remark"
    assert config.subscription_page == "https://city.example/t"
    assert config.sms_hook_url == "https://sms.example/hook"
    assert config.sms_hook_secret == "a-long-random-hook-secret-42"
    assert TicketConfig().sms_hook_url is None  # off by default


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"INTAKE_SUBSCRIBE_KIND": "forever"}, "INTAKE_SUBSCRIBE_KIND"),
        ({"WECHAT_SUBSCRIBE_FIELDS": "thing1=whatever"}, "WECHAT_SUBSCRIBE_FIELDS"),
        ({"INTAKE_SMS_HOOK_URL": "sms.example/hook"}, "INTAKE_SMS_HOOK_URL: .*http"),
    ],
)
def test_bad_push_settings_stop_start_up(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.read(variables)


def test_production_wants_the_sms_hook_over_https(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="INTAKE_SMS_HOOK_URL must be https"):
        load_settings(INTAKE_DATA_DIR=tmp_path, **GOOD,
                      INTAKE_SMS_HOOK_URL="http://sms.example/hook")
    settings = load_settings(INTAKE_DATA_DIR=tmp_path, **GOOD,
                             INTAKE_SMS_HOOK_URL="https://sms.example/hook")
    assert settings.pushes.sms_hook_url == "https://sms.example/hook"
