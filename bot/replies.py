"""What a handler answers: a passive reply the callback renders (or pushes when late)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reply", "ReplyLike", "as_reply"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A text reply to the resident. WeChat allows one passive reply per message."""

    text: str


ReplyLike = Reply | str | None


def as_reply(result: object) -> Reply | None:
    """Normalise a handler's return value: ``str`` → :class:`Reply`, ``None`` → no reply."""
    if result is None or isinstance(result, Reply):
        return result
    if isinstance(result, str):
        return Reply(result) if result else None
    raise TypeError(f"a handler returned {type(result).__name__}; expected Reply, str or None")
