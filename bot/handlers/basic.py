"""Polite answers to the kinds of message the conversation cannot use: unfollows, other
events, unrecognised voice, video, links and unknown types. Registered after the dialogue
router, which handles text, voice, locations, photos, follows and menu clicks."""

from __future__ import annotations

from bot.dispatcher import Router
from bot.filters import EventFilter
from bot.wechat.messages import IncomingMessage, LinkMessage, VideoMessage, VoiceMessage
from policies import messages as msg

__all__ = ["build_basic_router"]


def build_basic_router() -> Router:
    """The fallback router: a polite answer to every kind the dialogue router leaves."""
    router = Router(name="basic")

    @router.event(EventFilter("unsubscribe"))
    def on_unsubscribe(message: IncomingMessage) -> None:
        # WeChat delivers nothing to someone who just unfollowed.
        return None

    @router.event()
    def on_other_event(message: IncomingMessage) -> None:
        # VIEW, LOCATION reports, template receipts…: nothing to say to the resident.
        return None

    @router.voice(lambda message: not message.recognition)
    def on_unrecognised_voice(message: VoiceMessage) -> str:
        return msg.VOICE_NOT_RECOGNISED

    @router.video()
    def on_video(message: VideoMessage) -> str:
        return msg.VIDEO_RECEIVED

    @router.link()
    def on_link(message: LinkMessage) -> str:
        return msg.LINK_RECEIVED

    @router.unknown()
    def on_unknown(message: IncomingMessage) -> str:
        return msg.UNSUPPORTED

    return router
