"""Replies every account needs whatever the dialogue does: follow, menu, and the kinds of
message the conversation cannot use yet. Registered last, so richer routers win."""

from __future__ import annotations

from bot.dispatcher import Router
from bot.filters import EventFilter
from bot.wechat.messages import (
    ClickEvent,
    IncomingMessage,
    LinkMessage,
    LocationMessage,
    VideoMessage,
    VoiceMessage,
)
from policies.messages import MENU, UNSUPPORTED, WELCOME

__all__ = ["WELCOME", "build_basic_router"]


def build_basic_router() -> Router:
    """The fallback router: welcome, menu clicks, and polite answers to every other kind."""
    router = Router(name="basic")

    @router.event(EventFilter("subscribe"))
    def on_subscribe(message: IncomingMessage) -> str:
        return WELCOME

    @router.event(EventFilter("unsubscribe"))
    def on_unsubscribe(message: IncomingMessage) -> None:
        # WeChat delivers nothing to someone who just unfollowed.
        return None

    @router.event(EventFilter("click"))
    def on_click(message: ClickEvent) -> str:
        return "您好，请问有什么可以帮您？\n" + MENU

    @router.event()
    def on_other_event(message: IncomingMessage) -> None:
        # VIEW, LOCATION reports, template receipts…: nothing to say to the resident.
        return None

    @router.voice(lambda message: not message.recognition)
    def on_unrecognised_voice(message: VoiceMessage) -> str:
        return "抱歉，这条语音没能识别出来，麻烦您再说一遍，或者直接打字告诉我。"

    @router.location()
    def on_location(message: LocationMessage) -> str:
        place = message.label or "您发送的位置"
        return f"收到位置：{place}。请问这里发生了什么问题？"

    @router.image()
    def on_image(message: IncomingMessage) -> str:
        return "照片收到了。请用文字说一下是什么问题、在什么地方，我来帮您登记。"

    @router.video()
    def on_video(message: VideoMessage) -> str:
        return "视频收到了。请用文字简单说一下是什么问题、在什么地方。"

    @router.link()
    def on_link(message: LinkMessage) -> str:
        return "链接收到了。请问您想反映或咨询什么问题？"

    @router.text()
    def on_text(message: IncomingMessage) -> str:
        return "您好，我是12345接诉即办助手。\n" + MENU

    @router.unknown()
    def on_unknown(message: IncomingMessage) -> str:
        return UNSUPPORTED

    return router
