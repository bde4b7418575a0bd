"""Pure rules of status pushes that arrive: the fallback chain and how a push's fate reads.

A status push tries, in order (:data:`PUSH_CHANNELS`): a customer-service text while the
resident's 48-hour window is open and its quota lasts; the status template message; a
subscription message (订阅通知) when the resident's consent is on record; an operator's SMS
hook. :func:`push_plan` says which steps are worth trying before anything is sent; a
WeChat refusal (an errcode) moves to the next step, a transient failure retries the push
later (:func:`is_refusal`). Subscription message data is cut to what each key type takes
(:func:`subscription_data`); an SMS says where to answer (:func:`sms_text`). Staff read
the fate in Chinese (:func:`fate_label`, :func:`timeline_push_undelivered`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHANNEL_LABELS",
    "CONSENT_KINDS",
    "OUTCOME_LABELS",
    "PUSH_CHANNELS",
    "SUBSCRIPTION_FIELD_SOURCES",
    "SUBSCRIPTION_REFUSED",
    "PushStep",
    "Subscription",
    "consent_change",
    "fate_label",
    "is_refusal",
    "parse_subscription_fields",
    "push_plan",
    "sms_text",
    "step_summary",
    "subscription_data",
    "timeline_push_delivered_late",
    "timeline_push_undelivered",
]

PushChannelName = Literal["custom", "template", "subscription", "sms"]

#: The fallback chain, in order.
PUSH_CHANNELS: tuple[PushChannelName, ...] = ("custom", "template", "subscription", "sms")

CHANNEL_LABELS: Mapping[str, str] = {
    "custom": "客服消息",
    "template": "模板消息",
    "subscription": "订阅通知",
    "sms": "短信",
}

OUTCOME_LABELS: Mapping[str, str] = {
    "sending": "发送中",
    "delivered": "已送达",
    "refused": "被拒收",
    "failed": "暂时失败",
    "unknown": "结果未知",
    "skipped": "未尝试",
}

#: ``one_time``: one send per accept; ``long_term``: any number (public-service accounts).
CONSENT_KINDS = ("one_time", "long_term")

#: 43101: the resident has not subscribed (or the one-time subscription is used up).
SUBSCRIPTION_REFUSED = 43101

#: What may fill a subscription template's keys (``WECHAT_SUBSCRIBE_FIELDS``).
SUBSCRIPTION_FIELD_SOURCES = ("ticket", "status", "remark", "first")

#: WeChat's length limits of subscription message values, by the key's type (its name
#: without the trailing number): thing ≤ 20 characters, phrase ≤ 5, and so on.
_VALUE_LIMITS: Mapping[str, int] = {
    "thing": 20,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phrase": 5,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
    "time": 32,
    "date": 32,
    "amount": 32,
}


@dataclass(frozen=True, slots=True)
class PushStep:
    """One step of the chain: the channel, and why it is not worth trying (``None``: try)."""

    channel: str
    skip: str | None = None


def push_plan(
    *,
    window_refusal: str | None,
    template_configured: bool,
    subscription_configured: bool,
    sms_configured: bool,
    has_phone: bool,
) -> tuple[PushStep, ...]:
    """The four steps of a push, each with the reason it is skipped (if it is).

    ``window_refusal``: why no customer-service text may go now (``window_closed`` or
    ``over_quota``), ``None`` when one may. Consent to subscription messages is checked
    when that step comes (it needs the database); ``has_phone``: the resident's phone is
    known (a follower's is not: the ticket's phone is the filer's).
    """
    custom = {
        None: None,
        "window_closed": "outside the 48-hour window",
        "over_quota": "customer-service quota of the window used",
    }.get(window_refusal, window_refusal)
    sms = None
    if not sms_configured:
        sms = "INTAKE_SMS_HOOK_URL is not set"
    elif not has_phone:
        sms = "no phone number of this resident"
    return (
        PushStep("custom", custom),
        PushStep("template", None if template_configured else (
            "WECHAT_TEMPLATE_STATUS_ID is not set")),
        PushStep("subscription", None if subscription_configured else (
            "WECHAT_SUBSCRIBE_TEMPLATE_ID is not set")),
        PushStep("sms", sms),
    )


def is_refusal(errcode: int | None) -> bool:
    """WeChat answered and said no to this channel (move on to the next); ``None`` or -1
    (system busy) are transient: the push is retried later."""
    return errcode is not None and errcode != -1


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription template's keys and what fills each (``WECHAT_SUBSCRIBE_FIELDS``)."""

    fields: tuple[tuple[str, str], ...]


def parse_subscription_fields(spec: str) -> Subscription:
    """``"character_string1=ticket,phrase2=status,thing3=remark"`` → the pairs; raises
    ``ValueError`` on an item that is not ``key=what`` with a known ``what``."""
    pairs = []
    for item in spec.split(","):
        key, _, what = (part.strip() for part in item.strip().partition("="))
        if not key or what not in SUBSCRIPTION_FIELD_SOURCES:
            raise ValueError(
                f"{item.strip()!r} is not key=what with what one of "
                f"{', '.join(SUBSCRIPTION_FIELD_SOURCES)}"
            )
        pairs.append((key, what))
    return Subscription(tuple(pairs))


def _limit(key: str) -> int:
    kind = key.rstrip("0123456789")
    return _VALUE_LIMITS.get(kind, 20)


def _cut(value: str, limit: int) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def subscription_data(
    subscription: Subscription, template_data: Mapping[str, str]
) -> dict[str, str]:
    """The subscription message's data from the status template's (``first``,
    ``keyword1`` ticket id, ``keyword2`` status, ``remark``), each value cut to its key."""
    sources = {
        "ticket": template_data.get("keyword1", ""),
        "status": template_data.get("keyword2", ""),
        "remark": template_data.get("remark", ""),
        "first": template_data.get("first", ""),
    }
    return {key: _cut(sources[what], _limit(key)) for key, what in subscription.fields}


def step_summary(channel: str, outcome: str, errcode: int | None, detail: str | None) -> str:
    """One step as staff read it: ``模板消息：被拒收（43101）``."""
    label = CHANNEL_LABELS.get(channel, channel)
    said = OUTCOME_LABELS.get(outcome, outcome)
    if errcode is not None:
        said += f"（错误码{errcode}）"
    elif outcome == "skipped" and detail:
        said += f"（{_skip_wording(detail)}）"
    return f"{label}：{said}"


def _skip_wording(detail: str) -> str:
    if "48-hour" in detail:
        return "48小时窗口已关闭"
    if "quota" in detail:
        return "客服消息已达上限"
    if "not set" in detail:
        return "未配置"
    if "consent" in detail:
        return "居民未授权"
    if "phone" in detail:
        return "没有手机号"
    return detail


def fate_label(status: str, via: str | None) -> str:
    """A push's fate in a word or two: ``已送达（模板消息）``, ``未送达``, ``待发送``."""
    if status == "sent":
        return f"已送达（{CHANNEL_LABELS.get(via or '', via or '')}）"
    if status == "failed":
        return "未送达"
    return "待发送"


def timeline_push_delivered_late(ticket_status_label: str, channel: str) -> str:
    """The timeline note when a push recorded as undelivered had in fact gone out (its
    sender recorded the delivery after another had given it up)."""
    via = CHANNEL_LABELS.get(channel, channel)
    return f"“{ticket_status_label}”通知已送达群众（{via}），此前记为未送达。"


def timeline_push_undelivered(ticket_status_label: str, steps: Sequence[str]) -> str:
    """The timeline note when a status push reached the resident by no channel."""
    tried = "；".join(steps) if steps else "没有可用渠道"
    return f"“{ticket_status_label}”通知未能送达群众（{tried}），请电话告知。"


def consent_change(event: str, status: str, error_code: int | None = None,
                   error_status: str = "") -> Literal["grant", "revoke"] | None:
    """What a subscription event means for the resident's consent to one template: the
    popup's ``accept`` grants (one more one-time send, or long-term); ``reject`` in the
    popup or the settings revokes; a send reported refused by the resident
    (``failed:user block``, errcode 43101) revokes; anything else changes nothing."""
    if event == "subscribe_msg_popup_event":
        return "grant" if status == "accept" else "revoke" if status == "reject" else None
    if event == "subscribe_msg_change_event":
        return "revoke" if status == "reject" else None
    if event == "subscribe_msg_sent_event" and error_code not in (None, 0):
        refused = "user block" in error_status or error_code == SUBSCRIPTION_REFUSED
        return "revoke" if refused else None
    return None


def sms_text(text: str) -> str:
    """The push text as an SMS: a resident cannot answer the Official Account by replying
    to a text message, so every "请回复" says where to answer."""
    return text.replace("请回复", "请在公众号中回复")
