"""Bounds on what a signed callback may carry, checked before anything is dispatched.

WeChat's own messages are far inside them: openids are 28 characters, a text message is at
most 2048 bytes. A message outside them was not written by WeChat's client (a forged or
replayed plain-mode request, a misbehaving proxy), so nothing of it is stored:

- a ``FromUserName`` (or a given ``ToUserName``) that is empty, longer than
  :data:`MAX_OPENID` (64, the width of every openid column) or not letters, digits, ``_``
  and ``-``, or a ``MsgId`` longer than 64 characters: the request is refused with 400;
- a field (the text, a voice recognition, a location label, a link…) longer than
  :data:`MAX_FIELD_CHARS`: the resident is answered politely
  (:data:`policies.messages.MESSAGE_TOO_LONG`) and the message is not handled or stored —
  cutting it would file or record something the resident did not say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.wechat.messages import IncomingMessage

__all__ = ["MAX_FIELD_CHARS", "MAX_MSG_ID", "MAX_OPENID", "Violation", "check_message"]

MAX_OPENID = 64
MAX_MSG_ID = 64
#: WeChat limits a text message to 2048 bytes, so never more characters than that.
MAX_FIELD_CHARS = 2048

_ACCOUNT_ID_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a message is not handled: ``status`` 400 refuses the request; ``too_long``
    answers the resident politely instead."""

    reason: str
    status: int = 400
    too_long: bool = False


def _account_problem(name: str, value: str) -> str | None:
    if not value:
        return f"message without {name}"
    if len(value) > MAX_OPENID:
        return f"{name} longer than {MAX_OPENID} characters"
    if not _ACCOUNT_ID_RE.fullmatch(value):
        return f"{name} may only hold letters, digits, '_' and '-'"
    return None


def check_message(message: IncomingMessage) -> Violation | None:
    """The first bound ``message`` breaks, or ``None``."""
    problem = _account_problem("FromUserName", message.from_user)
    if problem is None and message.to_user:  # our own account; some tools leave it out
        problem = _account_problem("ToUserName", message.to_user)
    if problem:
        return Violation(problem)
    if message.msg_id is not None and len(message.msg_id) > MAX_MSG_ID:
        return Violation(f"MsgId longer than {MAX_MSG_ID} characters")
    for name, value in message.raw.items():
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return Violation(
                f"{name} longer than {MAX_FIELD_CHARS} characters", 200, too_long=True
            )
    return None
