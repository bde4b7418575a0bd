"""The login limiter on the real stores (memory and Redis) with a controlled clock: free
failures, doubling delays, attempts in flight, forgiveness, the account-wide key and known
addresses."""

from __future__ import annotations

import asyncio

from bot.console.login_limits import LoginLimiter, LoginLimits, Outcome
from integrations.state import KeyValueStore
from integrations.state.redis import RedisStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


LIMITS = LoginLimits(per_pair=5, per_address=8, per_account=12, first_delay=1.0, max_delay=60.0)


async def fail(limiter: LoginLimiter, user: str, address: str) -> int:
    """One attempt that fails when admitted; returns 0, or the wait when refused."""
    admission = await limiter.admit(user, address)
    if not admission.allowed:
        return admission.retry_after
    await limiter.conclude(admission, Outcome.FAILURE)
    return 0


async def test_free_failures_then_doubling_delays_up_to_the_cap(kv_store: KeyValueStore) -> None:
    clock = Clock()
    limiter = LoginLimiter(kv_store, LIMITS, clock=clock)
    assert [await fail(limiter, "wang", "A") for _ in range(5)] == [0] * 5
    waits = []
    for _ in range(8):
        wait = await fail(limiter, "wang", "A")
        assert wait > 0
        waits.append(wait)
        assert await fail(limiter, "wang", "A") == wait  # still waiting: refused, unchanged
        clock.now += wait
        assert await fail(limiter, "wang", "A") == 0  # admitted once the wait is over
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


async def test_old_failures_are_forgotten(kv_store: KeyValueStore) -> None:
    clock = Clock()
    limiter = LoginLimiter(kv_store, LIMITS, clock=clock)
    for _ in range(5):
        await fail(limiter, "wang", "A")
    assert await fail(limiter, "wang", "A") == 1
    clock.now += LIMITS.window + 1
    assert [await fail(limiter, "wang", "A") for _ in range(5)] == [0] * 5


async def test_attempts_in_flight_count_until_they_end(kv_store: KeyValueStore) -> None:
    clock = Clock()
    limiter = LoginLimiter(kv_store, LIMITS, clock=clock)
    admitted = await asyncio.gather(*(limiter.admit("wang", "A") for _ in range(9)))
    assert sum(a.allowed for a in admitted) == 5
    assert {a.retry_after for a in admitted if not a.allowed} == {1}
    # One ends without a check (the hashing pool was full): its turn is free again.
    first = next(a for a in admitted if a.allowed)
    await limiter.conclude(first, Outcome.UNCHECKED)
    again = await limiter.admit("wang", "A")
    assert again.allowed
    # The process holding the others died: their turns lapse after the timeout.
    assert not (await limiter.admit("wang", "A")).allowed
    clock.now += LIMITS.in_flight_timeout + 1
    assert (await limiter.admit("wang", "A")).allowed


async def test_success_forgives_the_pair_but_not_the_address(kv_store: KeyValueStore) -> None:
    clock = Clock()
    limiter = LoginLimiter(kv_store, LIMITS, clock=clock)
    for _ in range(4):
        await fail(limiter, "wang", "A")
    success = await limiter.admit("wang", "A")
    await limiter.conclude(success, Outcome.SUCCESS)
    assert [await fail(limiter, "wang", "A") for _ in range(4)] == [0] * 4
    # Eight failures from address A so far: the address key now slows every name from A …
    assert await fail(limiter, "li", "A") > 0
    # … and nothing from elsewhere.
    assert await fail(limiter, "li", "B") == 0


async def test_many_addresses_on_one_account_slow_only_unknown_addresses(
    kv_store: KeyValueStore,
) -> None:
    clock = Clock()
    limiter = LoginLimiter(kv_store, LIMITS, clock=clock)
    # The owner logged in from their office before.
    owner = await limiter.admit("wang", "office")
    await limiter.conclude(owner, Outcome.SUCCESS)
    # Twelve addresses, one guess each: the account-wide key is spent.
    for i in range(12):
        assert await fail(limiter, "wang", f"bot-{i}") == 0
    assert await fail(limiter, "wang", "bot-new") > 0
    # The owner's known address is not held up; another account is not either.
    assert (await limiter.admit("wang", "office")).allowed
    assert (await limiter.admit("li", "bot-new")).allowed


async def test_keys_never_hold_what_was_typed(redis_store: RedisStore) -> None:
    limiter = LoginLimiter(redis_store, LIMITS)
    typed = "My-Secret-Pass-42"
    for _ in range(3):
        await fail(limiter, typed, "203.0.113.5")
    keys = await redis_store.client.keys("*")
    assert keys
    assert not [k for k in keys if b"secret" in k.lower() or b"203.0.113.5" in k]
