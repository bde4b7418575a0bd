"""The access_token cache shared by every process through the key-value store.

One token per AppID lives under ``wechat:token:{appid}`` with a store TTL that ends a safety
margin before WeChat's ``expires_in``; reaching the TTL is what triggers a refresh. Fetches
happen under a store lock and re-read the cache after acquiring it, so however many
coroutines and processes miss at once, WeChat sees one fetch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from integrations.state import KeyValueStore, LockTimeout
from integrations.wechat.errors import WeChatError

__all__ = ["AccessToken", "AccessTokenCache", "TokenFetcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A token and the wall-clock time (epoch seconds) at which WeChat stops accepting it."""

    value: str
    expires_at: float

    def __repr__(self) -> str:
        # The token is a credential; keep it out of reprs that end up in tracebacks and logs.
        return f"AccessToken(value='***', expires_at={self.expires_at:.0f})"


#: Fetches a token from WeChat: ``(access_token, expires_in seconds)``.
TokenFetcher = Callable[[bool], Awaitable[tuple[str, int]]]


class AccessTokenCache:
    """Returns a live token, fetching it through ``fetch(force_refresh)`` when none is cached."""

    def __init__(
        self,
        store: KeyValueStore,
        app_id: str,
        fetch: TokenFetcher,
        *,
        safety_margin: float = 300.0,
        lock_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._safety_margin = safety_margin
        self._lock_timeout = lock_timeout
        self._clock = clock
        self.key = f"wechat:token:{app_id}"

    async def get(self) -> str:
        """The cached token, or a freshly fetched one."""
        cached = await self._read()
        if cached is not None:
            return cached.value
        async with self._locked():
            cached = await self._read()
            if cached is not None:  # another coroutine or process fetched it meanwhile
                return cached.value
            return await self._fetch_and_store(force_refresh=False)

    async def refresh(self, rejected: str) -> str:
        """A token other than ``rejected``, which WeChat just refused.

        Only the first of many concurrent callers holding the same rejected token forces a
        refresh; the rest find the new token in the cache. Forcing also invalidates the old
        token at WeChat, which is why it must not happen once per caller.
        """
        async with self._locked():
            cached = await self._read()
            if cached is not None and cached.value != rejected:
                return cached.value
            return await self._fetch_and_store(force_refresh=True)

    async def clear(self) -> None:
        await self._store.delete(self.key)

    def _locked(self) -> _TokenLock:
        return _TokenLock(self, self._lock_timeout)

    async def _read(self) -> AccessToken | None:
        raw = await self._store.get(self.key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            token = AccessToken(str(data["access_token"]), float(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable cached WeChat token under %s", self.key)
            return None
        return token

    async def _fetch_and_store(self, *, force_refresh: bool) -> str:
        value, expires_in = await self._fetch(force_refresh)
        if expires_in <= 0:
            raise WeChatError(f"WeChat issued a token with expires_in={expires_in}")
        # Usually expires_in - margin; never more than half the lifetime when WeChat's answer
        # is shorter than the margin, so a short-lived token is still reused for a while.
        ttl = max(expires_in - self._safety_margin, expires_in / 2)
        token = AccessToken(value, self._clock() + expires_in)
        payload = json.dumps({"access_token": token.value, "expires_at": token.expires_at})
        await self._store.set(self.key, payload.encode(), ttl=ttl)
        log.info(
            "WeChat access_token %s, valid %ds, cached %.0fs",
            "force-refreshed" if force_refresh else "fetched",
            expires_in,
            ttl,
        )
        return token.value


class _TokenLock:
    """The store lock around a fetch, turning a lock wait timeout into a WeChat error."""

    def __init__(self, cache: AccessTokenCache, timeout: float) -> None:
        # A crashed holder's lock expires after `timeout`, so waiting that long (plus a
        # little) lets a waiter take over instead of failing.
        self._lock = cache._store.lock(cache.key, timeout=timeout, blocking_timeout=timeout + 1.0)

    async def __aenter__(self) -> None:
        try:
            await self._lock.acquire()
        except LockTimeout as exc:
            raise WeChatError("timed out waiting for another WeChat token refresh") from exc

    async def __aexit__(self, *exc_info: object) -> None:
        await self._lock.release()
