"""The recent lines of each resident's chat, in the shared state store.

Staff see them with the ticket a chat produced and at the top of an escalated chat, so
they need not ask the resident again. Only the last ``keep`` lines are kept, for ``ttl``
seconds; ID, bank-card and phone numbers are masked before anything is stored
(:func:`privacy.redact`: the ticket's phone field is where staff find the number). The
dispatcher holds the resident's lock during a turn, so read-modify-write of one
resident's list is safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from integrations.state import KeyValueStore
from privacy import redact

__all__ = ["ChatLog"]

MAX_LINE = 1000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ChatLog:
    """Append and read a resident's recent chat lines (``{"at", "role", "text"}``)."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        keep: int = 30,
        ttl: float = 7 * 24 * 3600.0,
        clock: Callable[[], str] = _now_iso,
    ) -> None:
        self._store = store
        self.keep = keep
        self.ttl = ttl
        self._clock = clock

    @staticmethod
    def key(openid: str) -> str:
        """The store key of the resident's chat."""
        return f"chat:{openid}"

    async def recent(self, openid: str) -> list[dict[str, str]]:
        raw = await self._store.get(self.key(openid))
        if raw is None:
            return []
        try:
            lines = json.loads(raw)
        except ValueError:
            return []
        return lines if isinstance(lines, list) else []

    async def append(self, openid: str, role: str, text: str) -> list[dict[str, str]]:
        """Add a line; returns the resident's recent lines, this one last."""
        lines = await self.recent(openid)
        if text:
            self.add(lines, role, text)
            await self.save(openid, lines)
        return lines

    def add(self, lines: list[dict[str, str]], role: str, text: str) -> None:
        """Add a line to ``lines`` (as :meth:`recent` gave them) in memory, redacted and
        cut like :meth:`append` does; :meth:`save` writes them. A turn reads the chat once
        and writes the resident's line and the reply together."""
        if not text:
            return
        lines.append({"at": self._clock(), "role": role, "text": redact(text)[:MAX_LINE]})
        del lines[: -self.keep]

    async def save(self, openid: str, lines: list[dict[str, str]]) -> None:
        """Store ``lines`` (the last ``keep``) as the resident's recent chat."""
        payload = json.dumps(lines[-self.keep :], ensure_ascii=False).encode()
        await self._store.set(self.key(openid), payload, ttl=self.ttl)
