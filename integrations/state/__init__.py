"""Shared runtime state: a small key-value interface with TTLs and named locks.

Dialogue state (FSM), message dedup, per-resident locks and the WeChat token cache all live
behind :class:`KeyValueStore`, so the embedded default (memory) and scale-out (Redis) run the
same code.
"""

from integrations.state.base import Claim, ClaimRefused, KeyValueStore, Lock, LockTimeout
from integrations.state.memory import MemoryStore

__all__ = [
    "Claim",
    "ClaimRefused",
    "KeyValueStore",
    "Lock",
    "LockTimeout",
    "MemoryStore",
    "create_store",
]


def create_store(redis_url: str | None, *, namespace: str = "intake") -> KeyValueStore:
    """Return the Redis store when ``redis_url`` is set, else an in-memory one."""
    if redis_url:
        from integrations.state.redis import RedisStore

        return RedisStore.from_url(redis_url, namespace=namespace)
    return MemoryStore()
