"""Shared fixtures: real Redis / PostgreSQL servers, parametrised state stores.

Outside CI a test that needs a missing server is skipped with the reason; in CI (``CI`` set)
it fails instead, so the Redis and PostgreSQL paths are always exercised there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import pytest

from integrations.state import KeyValueStore, MemoryStore
from integrations.state.redis import RedisStore

REDIS_TEST_URL = os.environ.get("INTAKE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
POSTGRES_TEST_URL = os.environ.get(
    "INTAKE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) when a real server the test needs is not listening."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the {name} tests")
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_TEST_URL


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStore]:
    """A RedisStore on a separate db index, emptied before and after the test."""
    store = RedisStore.from_url(redis_url, namespace="intake-test")
    await store.client.flushdb()
    yield store
    await store.client.flushdb()
    await store.close()


@pytest.fixture(params=["memory", "redis"])
async def kv_store(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    """Each test using this runs twice: against memory and against the real Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    require_server("Redis", "127.0.0.1", 6379)
    store = RedisStore.from_url(REDIS_TEST_URL, namespace="intake-test")
    await store.client.flushdb()
    yield store
    await store.client.flushdb()
    await store.close()
