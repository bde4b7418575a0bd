"""Redis implementation of :class:`KeyValueStore`, shared by every app and worker process."""

from __future__ import annotations

from redis import asyncio as aioredis
from redis.asyncio.lock import Lock as _RedisLock
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from integrations.errors import StateBackendError
from integrations.state.base import KeyValueStore, Lock, LockTimeout

__all__ = ["RedisStore"]


class _RedisBackedLock(Lock):
    """redis-py's token lock (SET NX PX + Lua release) with our errors."""

    def __init__(self, lock: _RedisLock, name: str) -> None:
        self._lock = lock
        self._name = name

    async def acquire(self) -> None:
        try:
            acquired = await self._lock.acquire()
        except RedisError as exc:
            raise StateBackendError(f"Redis lock {self._name!r}: {exc}") from exc
        if not acquired:
            raise LockTimeout(f"lock {self._name!r} busy")

    async def release(self) -> None:
        try:
            await self._lock.release()
        except LockError:
            # Expired while held: someone else may own it now; nothing of ours to release.
            pass
        except RedisError as exc:
            raise StateBackendError(f"Redis lock {self._name!r}: {exc}") from exc


class RedisStore(KeyValueStore):
    """Keys are prefixed with ``namespace:`` so several deployments can share one server."""

    def __init__(self, client: aioredis.Redis, *, namespace: str = "intake") -> None:
        self._client = client
        self._prefix = f"{namespace}:"

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "intake") -> RedisStore:
        # Reconnect by itself after a Redis restart: a few quick retries on connection errors.
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        return cls(client, namespace=namespace)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    def key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(self.key(key))
        except RedisError as exc:
            raise StateBackendError(f"Redis GET failed: {exc}") from exc
        return value.encode() if isinstance(value, str) else value

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl is None else max(1, int(ttl * 1000))
        try:
            stored = await self._client.set(self.key(key), value, px=px, nx=only_if_absent)
        except RedisError as exc:
            raise StateBackendError(f"Redis SET failed: {exc}") from exc
        return bool(stored)

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete(self.key(key))
        except RedisError as exc:
            raise StateBackendError(f"Redis DEL failed: {exc}") from exc

    def lock(self, name: str, *, timeout: float, blocking_timeout: float) -> Lock:
        lock = _RedisLock(
            self._client,
            self.key("lock:" + name),
            timeout=timeout,
            sleep=0.005,
            blocking=True,
            blocking_timeout=blocking_timeout,
        )
        return _RedisBackedLock(lock, name)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._client.aclose()
