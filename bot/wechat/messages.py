"""Typed WeChat messages: what handlers receive instead of raw XML dicts.

One frozen dataclass per message type (and per event), built by :func:`message_from_fields`
from the flat fields of a callback body. Field names follow WeChat's documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "ClickEvent",
    "EventMessage",
    "ImageMessage",
    "IncomingMessage",
    "LinkMessage",
    "LocationEvent",
    "LocationMessage",
    "ScanEvent",
    "SubscribeEvent",
    "SubscriptionChoice",
    "SubscriptionEvent",
    "TextMessage",
    "UnknownEvent",
    "UnknownMessage",
    "UnsubscribeEvent",
    "VideoMessage",
    "ViewEvent",
    "VoiceMessage",
    "message_from_fields",
]

Fields = Mapping[str, Any]


def _str(fields: Fields, name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def _opt_str(fields: Fields, name: str) -> str | None:
    value = fields.get(name)
    return value if isinstance(value, str) and value != "" else None


def _int(fields: Fields, name: str) -> int | None:
    try:
        return int(_str(fields, name))
    except ValueError:
        return None


def _float(fields: Fields, name: str) -> float | None:
    try:
        return float(_str(fields, name))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """Fields every callback carries. ``kind`` names the observer that handles it."""

    kind: ClassVar[str] = "unknown"

    to_user: str
    from_user: str
    create_time: int
    msg_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def openid(self) -> str:
        """The resident's openid (``FromUserName``)."""
        return self.from_user

    @property
    def text(self) -> str | None:
        """What the resident said in words, when the message carries any."""
        return None

    @property
    def observer_kinds(self) -> tuple[str, ...]:
        """Observers offered this message, in order (a recognised voice reads as text too)."""
        return (self.kind,)

    @property
    def dedup_key(self) -> str:
        """Identity WeChat keeps across retries: MsgId, else sender + CreateTime (events)."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.from_user}:{self.create_time}:{_str(self.raw, 'Event')}"


@dataclass(frozen=True, slots=True)
class TextMessage(IncomingMessage):
    """A text message."""

    kind: ClassVar[str] = "text"
    content: str = ""

    @property
    def text(self) -> str | None:
        return self.content


@dataclass(frozen=True, slots=True)
class ImageMessage(IncomingMessage):
    """A photo; ``pic_url`` is downloadable for a few days, ``media_id`` through the API."""

    kind: ClassVar[str] = "image"
    pic_url: str = ""
    media_id: str = ""


@dataclass(frozen=True, slots=True)
class VoiceMessage(IncomingMessage):
    """A voice message; ``recognition`` is WeChat's speech-to-text when enabled."""

    kind: ClassVar[str] = "voice"
    media_id: str = ""
    format: str = ""
    recognition: str | None = None

    @property
    def text(self) -> str | None:
        return self.recognition

    @property
    def observer_kinds(self) -> tuple[str, ...]:
        return ("voice", "text") if self.recognition else ("voice",)


@dataclass(frozen=True, slots=True)
class VideoMessage(IncomingMessage):
    """A video or short video."""

    kind: ClassVar[str] = "video"
    media_id: str = ""
    thumb_media_id: str = ""


@dataclass(frozen=True, slots=True)
class LocationMessage(IncomingMessage):
    """A location the resident picked on the map; ``label`` is its address text."""

    kind: ClassVar[str] = "location"
    latitude: float | None = None
    longitude: float | None = None
    scale: int | None = None
    label: str = ""

    @property
    def text(self) -> str | None:
        return self.label or None


@dataclass(frozen=True, slots=True)
class LinkMessage(IncomingMessage):
    """A shared link."""

    kind: ClassVar[str] = "link"
    title: str = ""
    description: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class UnknownMessage(IncomingMessage):
    """A message type this bot does not know; gets a polite reply, never an error."""

    kind: ClassVar[str] = "unknown"
    msg_type: str = ""


@dataclass(frozen=True, slots=True)
class EventMessage(IncomingMessage):
    """Base of events; ``event`` is the lower-cased ``Event`` field."""

    kind: ClassVar[str] = "event"
    event: str = ""
    event_key: str = ""


@dataclass(frozen=True, slots=True)
class SubscribeEvent(EventMessage):
    """Follow; ``scene`` is set when the resident followed by scanning a parametric QR code."""

    scene: str | None = None
    ticket: str | None = None


@dataclass(frozen=True, slots=True)
class UnsubscribeEvent(EventMessage):
    """Unfollow."""


@dataclass(frozen=True, slots=True)
class ScanEvent(EventMessage):
    """A follower scanned a parametric QR code."""

    ticket: str | None = None


@dataclass(frozen=True, slots=True)
class ClickEvent(EventMessage):
    """A click on a custom menu button; ``event_key`` is the button's key."""


@dataclass(frozen=True, slots=True)
class ViewEvent(EventMessage):
    """A click on a menu link; ``event_key`` is the URL."""

    @property
    def url(self) -> str:
        return self.event_key


@dataclass(frozen=True, slots=True)
class LocationEvent(EventMessage):
    """Periodic location report (when the resident allowed it)."""

    latitude: float | None = None
    longitude: float | None = None
    precision: float | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionChoice:
    """One template of a subscription event: ``status`` is ``accept`` or ``reject`` (popup,
    settings), or for a send's report ``error_code`` (0: delivered) and ``error_status``."""

    template_id: str
    status: str = ""
    error_code: int | None = None
    error_status: str = ""


#: The subscription message (订阅通知) events and the block each carries its list in.
SUBSCRIPTION_EVENTS: Mapping[str, str] = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}


@dataclass(frozen=True, slots=True)
class SubscriptionEvent(EventMessage):
    """The resident chose in the subscribe popup, changed their mind in the settings, or a
    subscription message's delivery was reported; one :class:`SubscriptionChoice` per
    template."""

    choices: tuple[SubscriptionChoice, ...] = ()


def _subscription_choices(fields: Fields, event: str) -> tuple[SubscriptionChoice, ...]:
    # WeChat's own example of the change event uses the popup's block name: accept both.
    block = fields.get(SUBSCRIPTION_EVENTS[event]) or fields.get("SubscribeMsgPopupEvent")
    items = block.get("List") if isinstance(block, Mapping) else None
    if isinstance(items, Mapping):
        items = [items]  # one template: a block, not a list
    choices = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping) or not _opt_str(item, "TemplateId"):
            continue
        choices.append(
            SubscriptionChoice(
                template_id=_str(item, "TemplateId"),
                status=_str(item, "SubscribeStatusString").lower(),
                error_code=_int(item, "ErrorCode"),
                error_status=_str(item, "ErrorStatus"),
            )
        )
    return tuple(choices)


@dataclass(frozen=True, slots=True)
class UnknownEvent(EventMessage):
    """Any other event (template job finished, kf sessions, menu pickers…)."""


def _common(fields: Fields) -> dict[str, Any]:
    return {
        "to_user": _str(fields, "ToUserName"),
        "from_user": _str(fields, "FromUserName"),
        "create_time": _int(fields, "CreateTime") or 0,
        "msg_id": _opt_str(fields, "MsgId") or _opt_str(fields, "MsgID"),
        "raw": fields,
    }


def _event_from_fields(fields: Fields, common: dict[str, Any]) -> EventMessage:
    event = _str(fields, "Event").lower()
    key = _str(fields, "EventKey")
    base = {**common, "event": event, "event_key": key}
    if event == "subscribe":
        scene = key[len("qrscene_") :] if key.startswith("qrscene_") else None
        return SubscribeEvent(**base, scene=scene, ticket=_opt_str(fields, "Ticket"))
    if event == "unsubscribe":
        return UnsubscribeEvent(**base)
    if event == "scan":
        return ScanEvent(**base, ticket=_opt_str(fields, "Ticket"))
    if event == "click":
        return ClickEvent(**base)
    if event == "view":
        return ViewEvent(**base)
    if event == "location":
        return LocationEvent(
            **base,
            latitude=_float(fields, "Latitude"),
            longitude=_float(fields, "Longitude"),
            precision=_float(fields, "Precision"),
        )
    if event in SUBSCRIPTION_EVENTS:
        return SubscriptionEvent(**base, choices=_subscription_choices(fields, event))
    return UnknownEvent(**base)


def message_from_fields(fields: Fields) -> IncomingMessage:
    """Build the typed message for the flat fields of a callback ``<xml>`` body."""
    common = _common(fields)
    msg_type = _str(fields, "MsgType").lower()
    if msg_type == "text":
        return TextMessage(**common, content=_str(fields, "Content"))
    if msg_type == "image":
        return ImageMessage(
            **common, pic_url=_str(fields, "PicUrl"), media_id=_str(fields, "MediaId")
        )
    if msg_type == "voice":
        return VoiceMessage(
            **common,
            media_id=_str(fields, "MediaId"),
            format=_str(fields, "Format"),
            recognition=_opt_str(fields, "Recognition"),
        )
    if msg_type in ("video", "shortvideo"):
        return VideoMessage(
            **common, media_id=_str(fields, "MediaId"), thumb_media_id=_str(fields, "ThumbMediaId")
        )
    if msg_type == "location":
        return LocationMessage(
            **common,
            latitude=_float(fields, "Location_X"),
            longitude=_float(fields, "Location_Y"),
            scale=_int(fields, "Scale"),
            label=_str(fields, "Label"),
        )
    if msg_type == "link":
        return LinkMessage(
            **common,
            title=_str(fields, "Title"),
            description=_str(fields, "Description"),
            url=_str(fields, "Url"),
        )
    if msg_type == "event":
        return _event_from_fields(fields, common)
    return UnknownMessage(**common, msg_type=msg_type)
