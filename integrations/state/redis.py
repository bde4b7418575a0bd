"""Redis implementation of :class:`KeyValueStore`, shared by every app and worker process."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence

from redis import asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from core.errors import StateBackendError
from integrations.state.base import KeyValueStore, Lock, LockTimeout

__all__ = ["RedisStore"]


# Queue (first call, or again when our lease lapsed and we were dropped), renew our lease,
# and answer 1 when ``token`` is at the head (its lease then becomes the holder's), else 0.
# Queue heads whose lease expired (crashed holders or waiters) are dropped on the way. Runs
# atomically inside Redis: an uncontended lock costs one round trip.
_TURN_SCRIPT = """
local lease = ARGV[2] .. ARGV[1]
if ARGV[5] == '1' or not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
end
redis.call('SET', lease, '1', 'PX', ARGV[3])
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
while head do
  if head == ARGV[1] then
    redis.call('SET', lease, '1', 'PX', ARGV[4])
    return 1
  end
  if redis.call('EXISTS', ARGV[2] .. head) == 1 then return 0 end
  redis.call('ZREM', KEYS[1], head)
  head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
end
return 0
"""


class _RedisFairLock(Lock):
    """A FIFO lock shared by all processes: waiters queue in a sorted set by arrival.

    redis-py's lock lets whichever poller comes first win, so a resident's messages could be
    handled out of order; here the oldest live waiter always goes next. Every queued token
    has a lease key: the holder's lasts ``timeout`` seconds, a waiter's a few seconds and is
    renewed while it waits, so a crashed process never blocks the queue for long.
    """

    _WAITER_LEASE_MS = 3000
    _POLL_SECONDS = 0.003

    def __init__(
        self, store: RedisStore, name: str, *, timeout: float, blocking_timeout: float
    ) -> None:
        self._client = store.client
        self._queue = store.key(f"lock:{name}:queue")
        self._seq = store.key(f"lock:{name}:seq")
        self._lease_prefix = store.key(f"lock:{name}:lease:")
        self._name = name
        self._timeout_ms = max(1, int(timeout * 1000))
        self._blocking_timeout = blocking_timeout
        self._token = secrets.token_hex(8)
        self._turn = store.turn_script

    async def acquire(self) -> None:
        deadline = time.monotonic() + self._blocking_timeout
        first = "1"
        try:
            while True:
                turn = await self._turn(
                    keys=[self._queue, self._seq],
                    args=[
                        self._token,
                        self._lease_prefix,
                        self._WAITER_LEASE_MS,
                        self._timeout_ms,
                        first,
                    ],
                )
                if turn == 1:
                    return
                first = "0"
                if time.monotonic() >= deadline:
                    await self._leave()
                    raise LockTimeout(f"lock {self._name!r} busy for {self._blocking_timeout}s")
                await asyncio.sleep(self._POLL_SECONDS)
        except RedisError as exc:
            raise StateBackendError(f"Redis lock {self._name!r}: {exc}") from exc

    async def _leave(self) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zrem(self._queue, self._token)
            pipe.delete(self._lease_prefix + self._token)
            await pipe.execute()

    async def extend(self) -> None:
        try:
            await self._client.set(self._lease_prefix + self._token, b"1", px=self._timeout_ms)
        except RedisError as exc:
            raise StateBackendError(f"Redis lock {self._name!r}: {exc}") from exc

    async def release(self) -> None:
        try:
            await self._leave()
        except RedisError as exc:
            raise StateBackendError(f"Redis lock {self._name!r}: {exc}") from exc


class RedisStore(KeyValueStore):
    """Keys are prefixed with ``namespace:`` so several deployments can share one server."""

    def __init__(self, client: aioredis.Redis, *, namespace: str = "intake") -> None:
        self._client = client
        self._prefix = f"{namespace}:"
        #: the locks' queue script, registered once (a lock is made per message)
        self.turn_script = client.register_script(_TURN_SCRIPT)

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

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values = await self._client.mget([self.key(key) for key in keys])
        except RedisError as exc:
            raise StateBackendError(f"Redis MGET failed: {exc}") from exc
        return [v.encode() if isinstance(v, str) else v for v in values]

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

    async def incr(self, key: str, *, ttl: float) -> int:
        name = self.key(key)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                # NX: only a new counter gets the expiry, so the window stays fixed.
                pipe.pexpire(name, max(1, int(ttl * 1000)), nx=True)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise StateBackendError(f"Redis INCR failed: {exc}") from exc
        return int(count)

    def lock(self, name: str, *, timeout: float, blocking_timeout: float) -> Lock:
        return _RedisFairLock(self, name, timeout=timeout, blocking_timeout=blocking_timeout)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._client.aclose()
