"""Password hashing and checking off the event loop, in a small bounded thread pool.

An argon2id check costs tens of milliseconds of CPU and 64 MiB of memory by design. Run on
the event loop, a burst of logins stalls every request of the process (WeChat's 5-second
replies and ``/healthz`` included). Here the work runs in a pool of a few threads (argon2's C
code releases the GIL); a burst queues there, and beyond ``max_pending`` waiting checks
:class:`HashingBusy` is raised at once, so a flood cannot pile up memory or minutes of
queue.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import IntakeError

__all__ = ["HashingBusy", "PasswordHashing", "shared_hashing"]

T = TypeVar("T")


class HashingBusy(IntakeError):
    """Too many password checks are already waiting; try again in a moment."""


class PasswordHashing:
    """``hash``, ``verify`` and ``needs_rehash`` as coroutines that never block the loop.

    The pool is shared by every event loop of the process (tests run several apps, the CLI
    its own loop), so the waiting count is guarded by a thread lock, not an asyncio one.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        max_pending: int = 64,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._max_pending = max_pending
        self._pending = 0
        self._count_lock = threading.Lock()
        self._dummy: str | None = None

    async def _run(self, function: Callable[[], T]) -> T:
        with self._count_lock:
            if self._pending >= self._max_pending:
                raise HashingBusy("too many password checks waiting")
            self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function)
        finally:
            with self._count_lock:
                self._pending -= 1

    async def hash(self, password: str) -> str:
        return await self._run(lambda: self._hasher.hash(password))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``. ``None`` (no such account, or no
        usable password) is checked against a dummy hash, so every answer costs the same
        time and nobody learns from the delay which accounts exist."""
        if stored_hash is None:
            stored_hash = await self._dummy_hash()

        def check() -> bool:
            try:
                return self._hasher.verify(stored_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        matched = await self._run(check)
        return matched and stored_hash != self._dummy

    def needs_rehash(self, stored_hash: str) -> bool:
        """Cheap (it only parses the parameters), so it runs inline."""
        return self._hasher.check_needs_rehash(stored_hash)

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_hex(16))
        return self._dummy


_SHARED: PasswordHashing | None = None
_SHARED_LOCK = threading.Lock()


def shared_hashing() -> PasswordHashing:
    """The process's pool: the bound on threads and memory holds for the whole process, not
    per app or per store."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = PasswordHashing()
        return _SHARED
