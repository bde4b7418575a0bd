"""Server-side console sessions in the shared state store (Redis in production), so any
app process serves any request and logging out ends the session everywhere.

The cookie holds only a random token; the store keys the session by the token's SHA-256,
so a leaked store dump cannot be replayed as cookies. Each session carries its own CSRF
token. A login always creates a new session (a token planted before login is never
promoted: no session fixation). A session is stamped with its account's ``session_epoch``;
the console compares it with the account's current one on every request
(:class:`~integrations.accounts.status.AccountStates`), so a disabled account or a changed
password ends it at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from integrations.state import KeyValueStore

__all__ = ["ConsoleSession", "SessionStore"]


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A logged-in console user's session."""

    user_id: int
    username: str
    display_name: str
    role: str
    csrf_token: str
    created_at: float
    #: the account's ``session_epoch`` at login (sessions from before it was stored: 0)
    session_epoch: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SessionStore:
    """Create, read (sliding expiry) and end sessions."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        idle_timeout: float = 8 * 3600.0,
        max_age: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._clock = clock

    @staticmethod
    def _key(token: str) -> str:
        return "console:session:" + hashlib.sha256(token.encode()).hexdigest()

    async def create(
        self, *, user_id: int, username: str, display_name: str, role: str, session_epoch: int = 0
    ) -> tuple[str, ConsoleSession]:
        """A new session; returns the cookie token and the session."""
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            user_id=user_id,
            username=username,
            display_name=display_name,
            role=role,
            csrf_token=secrets.token_urlsafe(32),
            created_at=self._clock(),
            session_epoch=session_epoch,
        )
        await self._store.set(
            self._key(token), json.dumps(asdict(session)).encode(), ttl=self.idle_timeout
        )
        return token, session

    async def get(self, token: str | None) -> ConsoleSession | None:
        """The live session of ``token`` (its idle timer restarts), or ``None``."""
        if not token or len(token) > 128:
            return None
        raw = await self._store.get(self._key(token))
        if raw is None:
            return None
        session = ConsoleSession(**json.loads(raw))
        if self._clock() - session.created_at > self.max_age:
            await self.end(token)
            return None
        await self._store.set(self._key(token), raw, ttl=self.idle_timeout)
        return session

    async def end(self, token: str | None) -> None:
        if token:
            await self._store.delete(self._key(token))
