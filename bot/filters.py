"""Filters: plain callables over the message and the update's data.

A filter returns a truthy value to pass; a ``dict`` passes and hands its items to the
handler as keyword arguments (an intent filter hands over the parse result).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.fsm import FSMContext, State, StatesGroup
from bot.wechat.messages import EventMessage, IncomingMessage

__all__ = ["AnyState", "EventFilter", "IntentFilter", "StateFilter", "TextMatches"]

AnyState = "*"


class StateFilter:
    """Passes when the resident's FSM state is one of ``states``.

    ``None`` matches "no state", ``"*"`` any state, a :class:`StatesGroup` any of its states.
    """

    def __init__(self, *states: State | type[StatesGroup] | str | None) -> None:
        self.states = states

    def _matches(self, current: str | None) -> bool:
        for wanted in self.states:
            if wanted == AnyState:
                return True
            if wanted is None:
                if current is None:
                    return True
            elif isinstance(wanted, type) and issubclass(wanted, StatesGroup):
                if wanted.contains(current):
                    return True
            elif isinstance(wanted, State):
                if wanted.state == current:
                    return True
            elif wanted == current:
                return True
        return False

    async def __call__(self, message: IncomingMessage, state: FSMContext) -> bool:
        return self._matches(await state.get_state())


class EventFilter:
    """Passes for events named ``event`` (case-insensitive), optionally with one of ``keys``."""

    def __init__(self, event: str, *keys: str) -> None:
        self.event = event.lower()
        self.keys = frozenset(keys)

    def __call__(self, message: IncomingMessage) -> bool:
        if not isinstance(message, EventMessage) or message.event != self.event:
            return False
        return not self.keys or message.event_key in self.keys


class TextMatches:
    """Passes when the message's words match ``pattern``; hands over ``match``."""

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern

    def __call__(self, message: IncomingMessage) -> dict[str, Any] | bool:
        text = message.text
        if text is None:
            return False
        match = self.pattern.search(text)
        return {"match": match} if match else False


class IntentFilter:
    """Passes when the NLU's top intent is one of ``intents`` (prefix ``report.*`` allowed)
    with at least ``min_confidence``; hands over ``parse`` and ``intent``."""

    def __init__(self, *intents: str, min_confidence: float = 0.0) -> None:
        self.exact = frozenset(i for i in intents if not i.endswith("*"))
        self.prefixes = tuple(i[:-1] for i in intents if i.endswith("*"))
        self.min_confidence = min_confidence

    def matches(self, name: str) -> bool:
        return name in self.exact or (bool(self.prefixes) and name.startswith(self.prefixes))

    def __call__(self, message: IncomingMessage, **data: Any) -> dict[str, Any] | bool:
        parse = data.get("parse")
        if not isinstance(parse, dict):
            return False
        intent = parse.get("intent") or {}
        name = str(intent.get("name") or "")
        if not self.matches(name) or float(intent.get("confidence") or 0.0) < self.min_confidence:
            return False
        return {"parse": parse, "intent": name}

    @classmethod
    def any_of(cls, names: Iterable[str], min_confidence: float = 0.0) -> IntentFilter:
        return cls(*names, min_confidence=min_confidence)
