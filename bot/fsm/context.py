"""The context handed to handlers: one resident's conversation data.

Loaded once per update, after the per-resident lock is taken (loading before the lock lets
two concurrent messages overwrite each other: aiogram's issue 1317); every change is
written through at once so a crash loses nothing already answered.

The data is kept as the JSON document the store holds: every :meth:`get_data` is a fresh
decoding of it, so no caller can change the stored data by mutating what it got, and no
deep copy is ever made (one JSON decode per read, one encode per write).
"""

from __future__ import annotations

import json
from typing import Any

from bot.fsm.storage import FSMStorage

__all__ = ["FSMContext"]


class FSMContext:
    """The data of one resident, cached for the update being handled."""

    def __init__(self, storage: FSMStorage, openid: str) -> None:
        self.storage = storage
        self.openid = openid
        self._loaded = False
        self._raw: bytes | None = None  # the stored document (None: no data)
        #: a decoding of ``_raw`` nobody else holds yet (handed out by the next read)
        self._fresh: dict[str, Any] | None = None

    async def _load(self) -> None:
        if self._loaded:
            return
        raw = await self.storage.load_raw(self.openid)
        self._loaded = True
        if raw is None:
            return
        data = json.loads(raw).get("data")
        if data:
            self._raw = raw
            self._fresh = dict(data)

    def _take_data(self) -> dict[str, Any]:
        """A copy of the data that only the caller holds."""
        fresh, self._fresh = self._fresh, None
        if fresh is not None:
            return fresh
        if self._raw is None:
            return {}
        return dict(json.loads(self._raw).get("data") or {})

    async def get_data(self) -> dict[str, Any]:
        """A copy: mutating it changes nothing until :meth:`update_data`."""
        await self._load()
        return self._take_data()

    async def update_data(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into the data and store it; returns the merged data (the
        caller's to keep: the store holds its own encoded copy)."""
        await self._load()
        data = self._take_data()
        data.update(values)
        self._raw = await self.storage.save_raw(self.openid, data)
        self._fresh = None
        return data
