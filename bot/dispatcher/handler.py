"""Handlers and filters as callables, called with the keyword data they ask for.

Like aiogram's ``HandlerObject``: a callable's signature is inspected once at registration;
at call time it receives the event positionally and only the keyword arguments it declares
(or all of them when it takes ``**kwargs``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.wechat.messages import IncomingMessage

__all__ = ["CallableObject", "FilterResult", "HandlerObject", "SkipHandler"]

FilterResult = bool | dict[str, Any] | None


class SkipHandler(Exception):
    """Raised inside a handler to let the next matching handler take the message."""


@dataclass(slots=True)
class CallableObject:
    """A sync or async callable plus what it accepts, resolved once."""

    callback: Callable[..., Any]
    awaitable: bool = field(init=False)
    params: frozenset[str] = field(init=False)
    varkw: bool = field(init=False)

    def __post_init__(self) -> None:
        target = self.callback
        self.awaitable = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
            getattr(target, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        signature = inspect.signature(target)
        positional = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        # The first positional parameter receives the event itself.
        self.params = frozenset(
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and not (positional and p is positional[0])
        )
        self.varkw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())

    def _kwargs(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.varkw:
            return data
        return {k: v for k, v in data.items() if k in self.params}

    async def call(self, event: IncomingMessage, data: dict[str, Any]) -> Any:
        result = self.callback(event, **self._kwargs(data))
        if self.awaitable or inspect.isawaitable(result):
            return await result
        return result


@dataclass(slots=True)
class HandlerObject:
    """A handler with its filters; filters that return dicts feed the handler's kwargs."""

    handler: CallableObject
    filters: tuple[CallableObject, ...]

    async def check(self, event: IncomingMessage, data: dict[str, Any]) -> dict[str, Any] | None:
        """Return the extra data the filters produced, or ``None`` when one rejects."""
        extra: dict[str, Any] = {}
        for flt in self.filters:
            result: FilterResult = await flt.call(event, {**data, **extra})
            if not result:
                return None
            if isinstance(result, dict):
                extra.update(result)
        return extra


Filter = Callable[..., FilterResult | Awaitable[FilterResult]]
