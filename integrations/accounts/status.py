"""Each account's current role, state and session epoch, cached in the shared state store,
so every console request can check its session against the account for one key lookup.

A change made in the console (or by ``intake user`` with ``REDIS_URL`` set) writes the new
state through at once, so every process sees it on its next request. An entry otherwise
lives ``ttl`` seconds; that bounds how late a change reaches processes that could not be
told (``intake user`` on the embedded default, whose state lives in the server's memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from integrations.accounts.users import User, UserStore
from integrations.state import KeyValueStore

__all__ = ["AccountState", "AccountStates"]


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a session must agree with: the account is active, its epoch unchanged."""

    role: str
    active: bool
    session_epoch: int
    display_name: str

    @classmethod
    def of(cls, user: User) -> AccountState:
        return cls(user.role, user.active, user.session_epoch, user.display_name)


class AccountStates:
    """Read-through cache of :class:`AccountState` by user id."""

    def __init__(self, store: KeyValueStore, users: UserStore, *, ttl: float = 5.0) -> None:
        self._store = store
        self._users = users
        self.ttl = ttl

    @staticmethod
    def _key(user_id: int) -> str:
        return f"console:account:{user_id}"

    async def get(self, user_id: int) -> AccountState | None:
        """The account's state, or ``None`` when it no longer exists."""
        raw = await self._store.get(self._key(user_id))
        if raw is not None:
            data = json.loads(raw)
            return AccountState(**data) if data else None
        user = await self._users.get(user_id)
        state = AccountState.of(user) if user is not None else None
        # NX: a change written through meanwhile wins over what this read found.
        await self._store.set(
            self._key(user_id), self._encode(state), ttl=self.ttl, only_if_absent=True
        )
        return state

    async def publish(self, user: User) -> None:
        """Write a changed account's state through (after the database commit)."""
        await self._store.set(self._key(user.id), self._encode(AccountState.of(user)), ttl=self.ttl)

    @staticmethod
    def _encode(state: AccountState | None) -> bytes:
        if state is None:
            return b"{}"
        return json.dumps(
            {
                "role": state.role,
                "active": state.active,
                "session_epoch": state.session_epoch,
                "display_name": state.display_name,
            }
        ).encode()
