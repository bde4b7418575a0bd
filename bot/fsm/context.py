"""The context handed to handlers: one resident's conversation data.

Loaded once per update, after the per-resident lock is taken (loading before the lock lets
two concurrent messages overwrite each other: aiogram's issue 1317); every change is
written through at once so a crash loses nothing already answered.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.fsm.storage import FSMRecord, FSMStorage

__all__ = ["FSMContext"]


class FSMContext:
    """The data of one resident, cached for the update being handled."""

    def __init__(self, storage: FSMStorage, openid: str) -> None:
        self.storage = storage
        self.openid = openid
        self._record: FSMRecord | None = None

    async def _load(self) -> FSMRecord:
        if self._record is None:
            self._record = await self.storage.load(self.openid)
        return self._record

    async def get_data(self) -> dict[str, Any]:
        """A copy: mutating it changes nothing until :meth:`update_data`."""
        return copy.deepcopy((await self._load()).data)

    async def update_data(self, **values: Any) -> dict[str, Any]:
        record = await self._load()
        record.data.update(copy.deepcopy(values))
        await self.storage.save(self.openid, record)
        return copy.deepcopy(record.data)
