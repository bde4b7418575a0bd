"""What an app keeps in the real Redis, read with redis-py, for tests that check what is
(and is not) stored."""

from __future__ import annotations

import redis

__all__ = ["empty_redis", "stored_in_redis"]


def empty_redis(url: str) -> str:
    """Flush the test database; returns ``url`` for ``running_app(..., redis_url=...)``."""
    redis.Redis.from_url(url).flushdb()
    return url


def stored_in_redis(url: str) -> dict[str, bytes]:
    """Every string key and its value (locks and counters included)."""
    client = redis.Redis.from_url(url)
    stored: dict[str, bytes] = {}
    for key in client.scan_iter(count=500):
        value = client.get(key) if client.type(key) == b"string" else None
        if isinstance(value, bytes):
            stored[key.decode()] = value
    return stored
