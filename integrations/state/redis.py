"""Redis implementation of :class:`KeyValueStore`, shared by every app and worker process."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import StateBackendError
from integrations.state.base import Claim, ClaimRefused, KeyValueStore, Lock, LockTimeout

__all__ = ["RedisStore"]


# Queue (first call, or again when our lease lapsed and we were dropped), renew our lease,
# and answer 1 when ``token`` is at the head (its lease then becomes the holder's), else 0;
# with keys to read ahead (KEYS[reads] on), answer {1, their values} instead of 1. Queue
# heads whose lease expired (crashed holders or waiters) are dropped on the way. With a
# claim (ARGV[6], its expiry in ms: first call only), KEYS[3] is set to the token first if
# absent; when it is set already, by another, answer -1 without queueing (holding our token:
# a call of ours that redis-py sent again after losing its answer). Runs atomically inside
# Redis: a claim, an uncontended lock and the holder's first reads cost one round trip.
_TURN_SCRIPT = """
local reads = 3
if ARGV[6] then
  if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[6])
      and redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
  reads = 4
end
local lease = ARGV[2] .. ARGV[1]
if ARGV[5] == '1' or not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
end
redis.call('SET', lease, '1', 'PX', ARGV[3])
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
while head do
  if head == ARGV[1] then
    redis.call('SET', lease, '1', 'PX', ARGV[4])
    if #KEYS >= reads then return {1, redis.call('MGET', unpack(KEYS, reads))} end
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
        self,
        store: RedisStore,
        name: str,
        *,
        timeout: float,
        blocking_timeout: float,
        prefetch: Sequence[str] = (),
        claim: Claim | None = None,
    ) -> None:
        self._store = store
        self._prefetch = prefetch
        self._claim = claim
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
        # Read ahead only for a holder whose reads can use it (one in a deferral).
        deferral = self._store._deferred()
        reads = deferral.unknown(map(self._store.key, self._prefetch)) if deferral else []
        claim, self._claim = self._claim, None  # made once, in the first call
        try:
            claim_keys: list[str] = []
            claim_args: list[int] = []
            if claim is not None:
                name = self._store.key(claim.key)
                await self._store._send_first(name)  # the claim needs Redis's answer
                claim_keys, claim_args = [name], [max(1, int(claim.ttl * 1000))]
            while True:
                turn = await self._turn(
                    keys=[self._queue, self._seq, *claim_keys, *reads],
                    args=[
                        self._token,
                        self._lease_prefix,
                        self._WAITER_LEASE_MS,
                        self._timeout_ms,
                        first,
                        *claim_args,
                    ],
                )
                if claim is not None:
                    if turn == -1:
                        raise ClaimRefused(claim.key)  # not queued: nothing to leave
                    claim.taken = True
                    claim, claim_keys, claim_args = None, [], []
                if isinstance(turn, list):
                    assert deferral is not None
                    deferral.read(reads, turn[1])
                    return
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
        deferred = self._store._deferred()
        if deferred is not None:
            # Sent with the holder's deferred writes, after them, in one MULTI: nobody can
            # take the lock and read the state before those writes are in.
            deferred.releases.append((self._queue, self._token, self._lease_prefix + self._token))
            return
        try:
            await self._leave()
        except RedisError as exc:
            raise StateBackendError(f"Redis lock {self._name!r}: {exc}") from exc


@dataclass(slots=True)
class _Deferral:
    """The writes (full key → value, or ``None`` to delete; expiry in ms) and lock releases
    one task keeps until its ``deferred_writes`` block ends."""

    store: RedisStore
    task: asyncio.Task[object] | None
    writes: dict[str, tuple[bytes | None, int | None]] = field(default_factory=dict)
    releases: list[tuple[str, str, str]] = field(default_factory=list)
    #: values read ahead by ``prefetch`` (full key → value or ``None``)
    reads: dict[str, bytes | None] = field(default_factory=dict)

    def known(self, name: str) -> tuple[bool, bytes | None]:
        """``(True, value)`` when the block wrote or read ahead ``name``."""
        if name in self.writes:
            return True, self.writes[name][0]
        if name in self.reads:
            return True, self.reads[name]
        return False, None

    def unknown(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` (full keys) the block has neither written nor read ahead."""
        return [n for n in names if n not in self.writes and n not in self.reads]

    def read(self, names: Sequence[str], values: Sequence[bytes | str | None]) -> None:
        """Keep what Redis answered for ``names`` (full keys), for the block's reads."""
        for name, value in zip(names, values, strict=True):
            self.reads[name] = value.encode() if isinstance(value, str) else value


_DEFERRAL: ContextVar[_Deferral | None] = ContextVar("intake_redis_deferral", default=None)


class RedisStore(KeyValueStore):
    """Keys are prefixed with ``namespace:`` so several deployments can share one server."""

    def __init__(self, client: aioredis.Redis, *, namespace: str = "intake") -> None:
        self._client = client
        self._prefix = f"{namespace}:"
        #: the locks' queue script, registered once (a lock is made per message)
        self.turn_script = client.register_script(_TURN_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "intake") -> RedisStore:
        # Reconnect by itself after a Redis restart: a few quick retries on connection errors
        # (the asyncio client's own Retry: redis-py 8 converts a synchronous one, and warns).
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

    # -- deferred writes (see KeyValueStore.deferred_writes) ------------------------------

    @contextlib.asynccontextmanager
    async def deferred_writes(self) -> AsyncIterator[object]:
        if self._deferred() is not None:
            yield None  # nested: the outer block sends them
            return
        deferral = _Deferral(self, asyncio.current_task())
        token = _DEFERRAL.set(deferral)
        try:
            yield None
        finally:
            _DEFERRAL.reset(token)
            await self._send(deferral)

    def _deferred(self) -> _Deferral | None:
        """The deferral of the current task on this store, if any. Tasks started inside a
        block inherit the context variable, not the deferral: they write at once."""
        deferral = _DEFERRAL.get()
        if deferral is None or deferral.store is not self:
            return None
        return deferral if deferral.task is asyncio.current_task() else None

    async def _send(self, deferral: _Deferral) -> None:
        if not deferral.writes and not deferral.releases:
            return
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for name, (value, px) in deferral.writes.items():
                    if value is None:
                        pipe.delete(name)
                    else:
                        pipe.set(name, value, px=px)
                for queue, token, lease in deferral.releases:
                    pipe.zrem(queue, token)
                    pipe.delete(lease)
                await pipe.execute()
        except RedisError as exc:
            raise StateBackendError(f"Redis write failed: {exc}") from exc
        finally:
            deferral.writes.clear()
            deferral.releases.clear()

    async def _send_first(self, name: str) -> None:
        """Before a write that needs Redis's answer: what was deferred, so the order of
        writes to one key stays the order they were made in; a value read ahead for the
        key is forgotten (the write may change it)."""
        deferral = self._deferred()
        if deferral is not None:
            await self._send(deferral)
            deferral.reads.pop(name, None)

    async def prefetch(self, keys: Sequence[str]) -> None:
        deferral = self._deferred()
        if deferral is None:
            return
        names = deferral.unknown(map(self.key, keys))
        if not names:
            return
        try:
            values = await self._client.mget(names)
        except RedisError as exc:
            raise StateBackendError(f"Redis MGET failed: {exc}") from exc
        deferral.read(names, values)

    # -- the interface --------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        deferral = self._deferred()
        if deferral is not None:
            known, kept = deferral.known(self.key(key))
            if known:
                return kept
        try:
            value = await self._client.get(self.key(key))
        except RedisError as exc:
            raise StateBackendError(f"Redis GET failed: {exc}") from exc
        return value.encode() if isinstance(value, str) else value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        deferral = self._deferred()
        if deferral is not None and any(deferral.known(self.key(k))[0] for k in keys):
            return [await self.get(key) for key in keys]
        try:
            values = await self._client.mget([self.key(key) for key in keys])
        except RedisError as exc:
            raise StateBackendError(f"Redis MGET failed: {exc}") from exc
        return [v.encode() if isinstance(v, str) else v for v in values]

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl is None else max(1, int(ttl * 1000))
        deferral = self._deferred()
        if deferral is not None:
            if not only_if_absent:
                deferral.writes[self.key(key)] = (bytes(value), px)
                return True
            await self._send_first(self.key(key))
        try:
            stored = await self._client.set(self.key(key), value, px=px, nx=only_if_absent)
        except RedisError as exc:
            raise StateBackendError(f"Redis SET failed: {exc}") from exc
        return bool(stored)

    async def delete(self, key: str) -> None:
        deferral = self._deferred()
        if deferral is not None:
            deferral.writes[self.key(key)] = (None, None)
            return
        try:
            await self._client.delete(self.key(key))
        except RedisError as exc:
            raise StateBackendError(f"Redis DEL failed: {exc}") from exc

    async def incr(self, key: str, *, ttl: float) -> int:
        name = self.key(key)
        await self._send_first(name)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                # NX: only a new counter gets the expiry, so the window stays fixed.
                pipe.pexpire(name, max(1, int(ttl * 1000)), nx=True)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise StateBackendError(f"Redis INCR failed: {exc}") from exc
        return int(count)

    def lock(
        self,
        name: str,
        *,
        timeout: float,
        blocking_timeout: float,
        prefetch: Sequence[str] = (),
        claim: Claim | None = None,
    ) -> Lock:
        return _RedisFairLock(
            self,
            name,
            timeout=timeout,
            blocking_timeout=blocking_timeout,
            prefetch=prefetch,
            claim=claim,
        )

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._client.aclose()
