"""The FSM context handed to filters and handlers: one resident's state and form data.

Loaded once per update, after the per-resident lock is taken (loading before the lock lets
two concurrent messages overwrite each other: aiogram's issue 1317); every change is
written through at once so a crash loses nothing already answered.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.fsm.state import State
from bot.fsm.storage import FSMRecord, FSMStorage

__all__ = ["FSMContext"]


class FSMContext:
    """State and data of one resident, cached for the update being handled."""

    def __init__(self, storage: FSMStorage, openid: str) -> None:
        self.storage = storage
        self.openid = openid
        self._record: FSMRecord | None = None

    async def _load(self) -> FSMRecord:
        if self._record is None:
            self._record = await self.storage.load(self.openid)
        return self._record

    async def get_state(self) -> str | None:
        return (await self._load()).state

    async def set_state(self, state: State | str | None) -> None:
        record = await self._load()
        record.state = state.state if isinstance(state, State) else state
        await self.storage.save(self.openid, record)

    async def get_data(self) -> dict[str, Any]:
        """A copy: mutating it changes nothing until :meth:`set_data`/:meth:`update_data`."""
        return copy.deepcopy((await self._load()).data)

    async def set_data(self, data: dict[str, Any]) -> None:
        record = await self._load()
        record.data = copy.deepcopy(data)
        await self.storage.save(self.openid, record)

    async def update_data(self, **values: Any) -> dict[str, Any]:
        record = await self._load()
        record.data.update(copy.deepcopy(values))
        await self.storage.save(self.openid, record)
        return copy.deepcopy(record.data)

    async def clear(self) -> None:
        self._record = FSMRecord()
        await self.storage.save(self.openid, self._record)
