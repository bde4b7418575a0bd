"""The key-value interface every runtime-state user codes against."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from core.errors import StateBackendError

__all__ = ["Claim", "ClaimRefused", "KeyValueStore", "Lock", "LockTimeout"]


class LockTimeout(StateBackendError):
    """A named lock could not be acquired within its blocking timeout."""


@dataclass(slots=True)
class Claim:
    """A key a lock sets (expiring after ``ttl`` seconds; its value is not for reading) if
    it is absent, as the first step of its acquisition: where a round trip costs, in the
    same one.

    When the key is already set, the acquisition raises :class:`ClaimRefused` before it
    queues for the lock. ``taken`` turns true once the key was set by this claim.
    """

    key: str
    ttl: float
    taken: bool = False


class ClaimRefused(Exception):
    """A lock's :class:`Claim` found its key set: the lock was neither taken nor waited for."""


class Lock(abc.ABC):
    """A named mutual-exclusion lock, held at most ``timeout`` seconds (then it expires).

    Use as ``async with store.lock(name, timeout=..., blocking_timeout=...):``; raises
    :class:`LockTimeout` when it cannot be acquired in ``blocking_timeout`` seconds.
    """

    @abc.abstractmethod
    async def acquire(self) -> None: ...

    @abc.abstractmethod
    async def release(self) -> None: ...

    async def extend(self) -> None:  # noqa: B027 - nothing to renew where holders cannot die alone
        """Renew the hold for another ``timeout`` seconds (a live holder keeps a short lease,
        so a crashed one blocks others only briefly)."""

    async def __aenter__(self) -> Lock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


class KeyValueStore(abc.ABC):
    """Bytes values under string keys, with optional TTLs, plus named locks.

    Implementations: :class:`~integrations.state.memory.MemoryStore` (one process) and
    :class:`~integrations.state.redis.RedisStore` (shared by all processes). Values are
    copied in and out, so a caller mutating what it read never changes the stored value.
    """

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent or expired."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of ``keys``, in order (``None`` for each absent one): one round trip
        where the backend allows it."""
        return [await self.get(key) for key in keys]

    @abc.abstractmethod
    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store ``value``; with ``only_if_absent`` store only when no live value exists.

        Returns whether the value was stored. ``ttl`` is in seconds (``None``: no expiry).
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the key if present."""

    @abc.abstractmethod
    async def incr(self, key: str, *, ttl: float) -> int:
        """Add one to the counter under ``key`` and return it; a new counter expires after
        ``ttl`` seconds (a fixed window: later increments do not extend it)."""

    @abc.abstractmethod
    def lock(
        self,
        name: str,
        *,
        timeout: float,
        blocking_timeout: float,
        prefetch: Sequence[str] = (),
        claim: Claim | None = None,
    ) -> Lock:
        """Return a lock object for ``name`` (not yet acquired). ``prefetch``: keys the
        holder reads, read as :meth:`prefetch` does once the lock is taken — where a round
        trip costs, in the same one as the acquisition. ``claim``: a key to set if absent
        before queueing (:class:`Claim`); the acquisition raises :class:`ClaimRefused`
        without queueing when it is set already."""

    def deferred_writes(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Within ``async with store.deferred_writes():``, the current task's plain writes
        (``set`` without ``only_if_absent``, ``delete``; and a lock released inside it) may
        be kept and sent together when the block ends, in one round trip; the task's reads
        see them meanwhile. Here, and wherever a write costs no round trip, writes go at
        once."""
        return contextlib.nullcontext()

    async def prefetch(self, keys: Sequence[str]) -> None:  # noqa: B027 - a hint
        """Inside :meth:`deferred_writes`: read ``keys`` now, in one round trip, for the
        block's later reads of them. A hint; here (no round trips) it does nothing."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Whether the backend answers (``/healthz``)."""

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Release connections."""
