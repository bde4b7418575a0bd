"""Hands each update that carries words its NLU parse as ``parse``."""

from __future__ import annotations

from typing import Any, Protocol

from bot.dispatcher import NextHandler
from bot.wechat.messages import IncomingMessage, LocationMessage

__all__ = ["NLUMiddleware", "Parser"]


class Parser(Protocol):
    """What the middleware needs of :class:`nlu.parser.NLUService`."""

    def parse(self, text: str) -> dict[str, Any]: ...


class NLUMiddleware:
    """Parses text and recognised voice (a millisecond or two, so inline on the loop).
    Location labels are addresses, not sentences: they are not parsed."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        text = event.text
        if text and not isinstance(event, LocationMessage):
            data["parse"] = self.parser.parse(text)
        return await handler(event, data)
