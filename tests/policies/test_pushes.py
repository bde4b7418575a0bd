"""The pure rules of pushes that arrive: the chain's plan, refusals, subscription data,
consent changes, the wording staff read."""

from __future__ import annotations

import pytest

from core.settings import SUBSCRIPTION_FIELD_SOURCES
from policies import pushes
from policies.pushes import (
    PushStep,
    consent_change,
    fate_label,
    is_refusal,
    parse_subscription_fields,
    push_plan,
    step_summary,
    subscription_data,
    timeline_push_undelivered,
)
from policies.tickets import status_push_text


def test_the_plan_tries_every_configured_step_in_order() -> None:
    plan = push_plan(window_refusal=None, template_configured=True,
                     subscription_configured=True, sms_configured=True, has_phone=True)
    assert plan == tuple(PushStep(c) for c in ("custom", "template", "subscription", "sms"))


def test_the_plan_says_why_a_step_is_skipped() -> None:
    plan = push_plan(window_refusal="window_closed", template_configured=False,
                     subscription_configured=False, sms_configured=True, has_phone=False)
    assert [s.skip for s in plan] == [
        "outside the 48-hour window",
        "WECHAT_TEMPLATE_STATUS_ID is not set",
        "WECHAT_SUBSCRIBE_TEMPLATE_ID is not set",
        "no phone number of this resident",
    ]
    over = push_plan(window_refusal="over_quota", template_configured=True,
                     subscription_configured=True, sms_configured=False, has_phone=True)
    assert "quota" in (over[0].skip or "") and over[3].skip == "INTAKE_SMS_HOOK_URL is not set"


@pytest.mark.parametrize(
    ("errcode", "refusal"),
    [(45015, True), (43101, True), (40037, True), (43004, True), (-1, False), (None, False)],
)
def test_an_errcode_is_a_refusal_but_system_busy(errcode: int | None, refusal: bool) -> None:
    assert is_refusal(errcode) is refusal


def test_subscription_data_fills_and_cuts_each_key() -> None:
    fields = parse_subscription_fields(
        "character_string1=ticket, phrase2=status ,thing3=remark,thing4=first"
    )
    data = subscription_data(fields, {
        "first": "您反映的“路灯不亮/损坏”问题有新进展",
        "keyword1": "20261203-0042",
        "keyword2": "处理中处理中处理中",
        "remark": "正在处理中，工作人员可能会与您电话联系，请保持电话畅通。",
    })
    assert data["character_string1"] == "20261203-0042"
    assert data["phrase2"] == "处理中处…" and len(data["phrase2"]) == 5
    assert len(data["thing3"]) == 20 and data["thing3"].endswith("…")
    assert data["thing4"].startswith("您反映的")


@pytest.mark.parametrize("spec", ["", "thing1", "thing1=who", "=ticket", "a=ticket,,b=status"])
def test_bad_subscription_fields_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="key=what"):
        parse_subscription_fields(spec)


def test_settings_and_policy_agree_on_the_field_sources() -> None:
    assert SUBSCRIPTION_FIELD_SOURCES == pushes.SUBSCRIPTION_FIELD_SOURCES


@pytest.mark.parametrize(
    ("event", "status", "code", "error", "change"),
    [
        ("subscribe_msg_popup_event", "accept", None, "", "grant"),
        ("subscribe_msg_popup_event", "reject", None, "", "revoke"),
        ("subscribe_msg_change_event", "reject", None, "", "revoke"),
        ("subscribe_msg_change_event", "accept", None, "", None),
        ("subscribe_msg_sent_event", "", 0, "success", None),
        ("subscribe_msg_sent_event", "", 20001, "failed:user block", "revoke"),
        ("subscribe_msg_sent_event", "", 43101, "", "revoke"),
        ("subscribe_msg_sent_event", "", 20002, "failed:system failed", None),
    ],
)
def test_what_a_subscription_event_does_to_the_consent(
    event: str, status: str, code: int | None, error: str, change: str | None
) -> None:
    assert consent_change(event, status, code, error) == change


def test_the_fate_as_staff_read_it() -> None:
    assert fate_label("sent", "subscription") == "已送达（订阅通知）"
    assert fate_label("failed", None) == "未送达"
    assert fate_label("pending", None) == "待发送"
    steps = [
        step_summary("custom", "skipped", None, "outside the 48-hour window"),
        step_summary("template", "refused", 43101, "WeChat errcode 43101: user refuse"),
        step_summary("subscription", "skipped", None, "no consent of the resident on record"),
        step_summary("sms", "skipped", None, "INTAKE_SMS_HOOK_URL is not set"),
    ]
    assert steps == [
        "客服消息：未尝试（48小时窗口已关闭）",
        "模板消息：被拒收（错误码43101）",
        "订阅通知：未尝试（居民未授权）",
        "短信：未尝试（未配置）",
    ]
    note = timeline_push_undelivered("已办结", steps)
    assert note.startswith("“已办结”通知未能送达群众（客服消息：未尝试")
    assert note.endswith("短信：未尝试（未配置）），请电话告知。")


def test_an_sms_says_where_to_answer() -> None:
    resolved = status_push_text(
        ticket_id="20261203-0001", category_label="路灯不亮/损坏", status="resolved",
        note="已更换灯泡",
    )
    assert "请回复" in resolved
    text = pushes.sms_text(resolved)
    assert "请在公众号中回复：已解决 / 没解决" in text and "20261203-0001" in text
    assert pushes.sms_text("您的工单正在处理中。") == "您的工单正在处理中。"
