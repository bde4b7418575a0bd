"""Where each resident's dialogue state lives: the shared key-value store.

One JSON document per resident (``{"data": {...}}``) under ``fsm:{openid}``
with a TTL, so abandoned forms expire by themselves. The store is the memory one on the
embedded default and Redis in production; the same contract tests run against both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from integrations.state import KeyValueStore

__all__ = ["FSMRecord", "FSMStorage"]


@dataclass(slots=True)
class FSMRecord:
    """A resident's conversation data."""

    data: dict[str, Any] = field(default_factory=dict)


class FSMStorage:
    """Reads and writes :class:`FSMRecord` documents with a sliding TTL."""

    def __init__(self, store: KeyValueStore, *, ttl: float = 24 * 3600) -> None:
        self._store = store
        self._ttl = ttl

    @staticmethod
    def key(openid: str) -> str:
        """The store key of the resident's state."""
        return f"fsm:{openid}"

    async def load(self, openid: str) -> FSMRecord:
        raw = await self.load_raw(openid)
        if raw is None:
            return FSMRecord()
        doc = json.loads(raw)
        return FSMRecord(data=dict(doc.get("data") or {}))

    async def save(self, openid: str, record: FSMRecord) -> None:
        await self.save_raw(openid, record.data)

    async def load_raw(self, openid: str) -> bytes | None:
        """The stored JSON document, undecoded (``None`` when there is none)."""
        return await self._store.get(self.key(openid))

    async def save_raw(self, openid: str, data: dict[str, Any]) -> bytes | None:
        """Store the data; returns the document as stored (``None``: deleted)."""
        if not data:
            await self._store.delete(self.key(openid))
            return None
        payload = json.dumps({"data": data}, ensure_ascii=False).encode()
        await self._store.set(self.key(openid), payload, ttl=self._ttl)
        return payload
