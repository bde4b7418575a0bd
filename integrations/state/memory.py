"""In-process implementation of :class:`KeyValueStore` for the embedded default."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from integrations.state.base import Claim, ClaimRefused, KeyValueStore, Lock, LockTimeout

__all__ = ["MemoryStore"]


class _MemoryLock(Lock):
    """FIFO lock on an :class:`asyncio.Lock`; one process cannot outlive its own holder,
    so ``timeout`` (expiry of a crashed holder) has nothing to guard against here."""

    def __init__(
        self, store: MemoryStore, name: str, blocking_timeout: float, claim: Claim | None
    ) -> None:
        self._store = store
        self._name = name
        self._blocking_timeout = blocking_timeout
        self._claim = claim
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        claim, self._claim = self._claim, None  # made once, before queueing
        if claim is not None:
            if not await self._store.set(claim.key, b"1", ttl=claim.ttl, only_if_absent=True):
                raise ClaimRefused(claim.key)
            claim.taken = True
        lock = self._store._locks.setdefault(self._name, asyncio.Lock())
        self._store._lock_users[self._name] = self._store._lock_users.get(self._name, 0) + 1
        try:
            # asyncio.timeout arms one timer; wait_for would also wrap acquire() in a task.
            async with asyncio.timeout(self._blocking_timeout):
                await lock.acquire()
        except TimeoutError:
            self._forget()
            raise LockTimeout(f"lock {self._name!r} busy for {self._blocking_timeout}s") from None
        except BaseException:
            self._forget()
            raise
        self._lock = lock

    async def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            self._forget()

    def _forget(self) -> None:
        # Drop the per-name lock once nobody holds or waits for it, so the table does not
        # grow with every resident ever seen.
        users = self._store._lock_users.get(self._name, 1) - 1
        if users <= 0:
            self._store._lock_users.pop(self._name, None)
            self._store._locks.pop(self._name, None)
        else:
            self._store._lock_users[self._name] = users


class MemoryStore(KeyValueStore):
    """Dict-backed store with lazy expiry; values are immutable ``bytes`` so reads are copies."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}
        self._monotonic = monotonic
        self._writes = 0

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at is not None and expires_at <= self._monotonic():
            del self._data[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._live(key) for key in keys]

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._live(key) is not None:
            return False
        expires_at = None if ttl is None else self._monotonic() + ttl
        self._data[key] = (bytes(value), expires_at)
        self._writes += 1
        if self._writes % 10_000 == 0:
            self._sweep()
        return True

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, *, ttl: float) -> int:
        item = self._data.get(key)
        current = self._live(key)
        count = int(current) + 1 if current is not None else 1
        expires_at = item[1] if current is not None and item else self._monotonic() + ttl
        self._data[key] = (str(count).encode(), expires_at)
        return count

    def lock(
        self,
        name: str,
        *,
        timeout: float,
        blocking_timeout: float,
        prefetch: Sequence[str] = (),
        claim: Claim | None = None,
    ) -> Lock:
        return _MemoryLock(self, name, blocking_timeout, claim)  # reads cost nothing: no prefetch

    async def ping(self) -> bool:
        return True

    def _sweep(self) -> None:
        now = self._monotonic()
        expired = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
        for key in expired:
            del self._data[key]
