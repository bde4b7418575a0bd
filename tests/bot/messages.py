"""Messages and handlers the bot tests build again and again: a resident's text as the
channel parses it, and a router that numbers the times it was called."""

from __future__ import annotations

import asyncio

from bot.dispatcher import Router
from bot.wechat.messages import IncomingMessage, message_from_fields


def text_message(
    content: str, *, openid: str = "o-resident-1", msg_id: str = "1"
) -> IncomingMessage:
    """A text message from ``openid`` as the channel hands it to the dispatcher."""
    return message_from_fields(
        {
            "ToUserName": "gh",
            "FromUserName": openid,
            "CreateTime": "1700000000",
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id,
        }
    )


def counting_router(delay: float = 0.0) -> tuple[Router, list[str]]:
    """A router that answers every text with its own call number, after ``delay`` seconds;
    the list holds the texts it processed (a retry processed twice shows twice)."""
    router = Router(name="counting")
    calls: list[str] = []

    @router.text()
    async def answer(message: IncomingMessage) -> str:
        calls.append(message.text or "")
        await asyncio.sleep(delay)
        return f"第{len(calls)}次处理：{message.text}"

    return router, calls
