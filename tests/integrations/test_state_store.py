"""Contract tests of the key-value store, run against memory and the real Redis."""

from __future__ import annotations

import asyncio

import pytest

from integrations.state import Claim, ClaimRefused, KeyValueStore, LockTimeout
from integrations.state.memory import MemoryStore
from integrations.state.redis import RedisStore


async def test_set_get_delete(kv_store: KeyValueStore) -> None:
    assert await kv_store.get("a") is None
    assert await kv_store.set("a", b"1")
    assert await kv_store.get("a") == b"1"
    await kv_store.delete("a")
    assert await kv_store.get("a") is None


async def test_only_if_absent_is_atomic_first_wins(kv_store: KeyValueStore) -> None:
    results = await asyncio.gather(
        *(kv_store.set("dedup", str(i).encode(), only_if_absent=True) for i in range(20))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await kv_store.get("dedup") == str(winner).encode()


async def test_ttl_expires(kv_store: KeyValueStore) -> None:
    await kv_store.set("short", b"x", ttl=0.05)
    assert await kv_store.get("short") == b"x"
    await asyncio.sleep(0.12)
    assert await kv_store.get("short") is None
    # an expired key no longer blocks only_if_absent
    assert await kv_store.set("short", b"y", only_if_absent=True)


async def test_lock_serialises_critical_sections(kv_store: KeyValueStore) -> None:
    inside = 0
    peak = 0
    order: list[int] = []

    async def worker(i: int) -> None:
        nonlocal inside, peak
        async with kv_store.lock("resident-1", timeout=5, blocking_timeout=5):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            order.append(i)
            inside -= 1

    await asyncio.gather(*(worker(i) for i in range(5)))
    assert peak == 1
    assert sorted(order) == list(range(5))


async def test_lock_times_out_when_held(kv_store: KeyValueStore) -> None:
    async with kv_store.lock("busy", timeout=5, blocking_timeout=1):
        with pytest.raises(LockTimeout):
            async with kv_store.lock("busy", timeout=5, blocking_timeout=0.05):
                pass
    # released: can be taken again
    async with kv_store.lock("busy", timeout=5, blocking_timeout=0.5):
        pass


async def test_ping(kv_store: KeyValueStore) -> None:
    assert await kv_store.ping()


async def test_lock_is_fifo_in_arrival_order(kv_store: KeyValueStore) -> None:
    order: list[int] = []

    async def worker(i: int) -> None:
        async with kv_store.lock("fifo", timeout=5, blocking_timeout=5):
            order.append(i)
            await asyncio.sleep(0.05)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(worker(i)))
        await asyncio.sleep(0.01)  # arrive in this order, all while the first holds the lock
    await asyncio.gather(*tasks)
    assert order == list(range(6))


async def test_timed_out_waiter_leaves_the_queue(kv_store: KeyValueStore) -> None:
    holder = kv_store.lock("q", timeout=5, blocking_timeout=1)
    await holder.acquire()
    with pytest.raises(LockTimeout):
        await kv_store.lock("q", timeout=5, blocking_timeout=0.05).acquire()
    await holder.release()
    # the gave-up waiter does not block the next one
    async with kv_store.lock("q", timeout=5, blocking_timeout=0.5):
        pass


async def test_crashed_holder_expires(redis_store: RedisStore) -> None:
    crashed = redis_store.lock("crash", timeout=0.2, blocking_timeout=1)
    await crashed.acquire()  # never released: the process "died"
    async with redis_store.lock("crash", timeout=5, blocking_timeout=2):
        pass


async def test_incr_counts_in_a_fixed_window(kv_store: KeyValueStore) -> None:
    assert [await kv_store.incr("hits", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(0.15)
    assert await kv_store.incr("hits", ttl=0.3) == 4  # does not extend the window
    await asyncio.sleep(0.25)
    assert await kv_store.get("hits") is None
    assert await kv_store.incr("hits", ttl=0.3) == 1


async def test_get_many_answers_each_key_in_order(kv_store: KeyValueStore) -> None:
    await kv_store.set("m1", b"one")
    await kv_store.set("m3", b"three", ttl=0.05)
    assert await kv_store.get_many(["m1", "m2", "m3"]) == [b"one", None, b"three"]
    await asyncio.sleep(0.12)
    assert await kv_store.get_many(["m3", "m1"]) == [None, b"one"]
    assert await kv_store.get_many([]) == []


async def test_deferred_writes_read_back_then_land_together(kv_store: KeyValueStore) -> None:
    await kv_store.set("gone", b"old")
    async with kv_store.deferred_writes():
        await kv_store.set("state", b"1", ttl=30)
        await kv_store.set("state", b"2", ttl=30)
        await kv_store.delete("gone")
        # The task sees its own writes, deferred or not.
        assert await kv_store.get("state") == b"2"
        assert await kv_store.get_many(["state", "gone"]) == [b"2", None]
        # A write that needs the store's answer goes after what came before it.
        assert not await kv_store.set("state", b"3", only_if_absent=True)
    assert await kv_store.get("state") == b"2"
    assert await kv_store.get("gone") is None


async def test_deferred_writes_wait_for_the_end_of_the_block(redis_store: RedisStore) -> None:
    other = RedisStore(redis_store.client, namespace="intake-test")
    async with redis_store.deferred_writes():
        await redis_store.set("state", b"new")
        assert await other.get("state") is None  # another process sees nothing yet
        seen_by_a_task = await asyncio.create_task(other.get("state"))
        assert seen_by_a_task is None
        # A task started inside writes at once (its writes are not the block's to send).
        await asyncio.create_task(redis_store.set("task", b"t"))
        assert await other.get("task") == b"t"
    assert await other.get("state") == b"new"


async def test_a_lock_released_in_a_deferral_frees_with_the_writes(
    redis_store: RedisStore,
) -> None:
    order: list[str] = []

    async def holder() -> None:
        async with redis_store.deferred_writes():
            async with redis_store.lock("r", timeout=5, blocking_timeout=5):
                await redis_store.set("turn", b"first")
                await asyncio.sleep(0.05)
            order.append("released")

    async def next_in_line() -> None:
        await asyncio.sleep(0.01)
        async with redis_store.lock("r", timeout=5, blocking_timeout=5):
            # The lock came free only with the holder's writes, never before them.
            order.append(f"next saw {(await redis_store.get('turn') or b'').decode()}")

    await asyncio.gather(holder(), next_in_line())
    assert order == ["released", "next saw first"]


async def test_prefetched_keys_are_read_once(redis_store: RedisStore) -> None:
    other = RedisStore(redis_store.client, namespace="intake-test")
    await other.set("fsm", b"state")
    async with redis_store.deferred_writes():
        await redis_store.prefetch(["fsm", "chat"])
        await other.set("fsm", b"changed meanwhile")
        # Answered from the read-ahead: no second round trip.
        assert await redis_store.get("fsm") == b"state"
        assert await redis_store.get_many(["chat", "fsm"]) == [None, b"state"]
        # A write whose answer comes from Redis drops the read-ahead of its key.
        assert not await redis_store.set("fsm", b"x", only_if_absent=True)
        assert await redis_store.get("fsm") == b"changed meanwhile"
    # Outside a deferral, a prefetch is only a hint.
    await redis_store.prefetch(["fsm"])
    assert await redis_store.get("fsm") == b"changed meanwhile"


async def test_a_lock_reads_ahead_in_its_own_round_trip(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resident lock's acquisition also reads the turn's keys: one round trip, and
    what it reads is what the previous holder wrote before letting go."""
    await redis_store.set("fsm", b"before")
    calls: list[object] = []
    real = redis_store.client.execute_command

    async def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return await real(*args, **kwargs)

    monkeypatch.setattr(redis_store.client, "execute_command", counted)

    async def turn(text: bytes, seen: list[bytes | None]) -> None:
        async with redis_store.deferred_writes(), redis_store.lock(
            "r", timeout=5, blocking_timeout=5, prefetch=["fsm", "chat"]
        ):
            seen.append(await redis_store.get("fsm"))
            assert await redis_store.get("chat") is None
            await redis_store.set("fsm", text)
            await asyncio.sleep(0.05)

    first: list[bytes | None] = []
    await turn(b"first", first)
    assert first == [b"before"]
    assert calls == ["EVALSHA"]  # the writes and the release go in one MULTI afterwards
    second: list[bytes | None] = []
    third: list[bytes | None] = []
    await asyncio.gather(turn(b"second", second), turn(b"third", third))
    # The waiter read the state as the holder left it, in the poll that gave it the lock.
    assert sorted([second[0], third[0]]) == [b"first", b"second"]
    assert await redis_store.get("fsm") in (b"second", b"third")


async def _queued(store: KeyValueStore, name: str) -> int:
    """How many hold or wait for the lock ``name`` (the holder included)."""
    if isinstance(store, RedisStore):
        return int(await store.client.zcard(store.key(f"lock:{name}:queue")))
    assert isinstance(store, MemoryStore)
    return store._lock_users.get(name, 0)


async def test_a_lock_makes_its_claim_before_queueing(kv_store: KeyValueStore) -> None:
    claim = Claim("seen", ttl=0.3)
    async with kv_store.lock("c", timeout=5, blocking_timeout=1, claim=claim):
        assert claim.taken
        assert await kv_store.get("seen") is not None
    await asyncio.sleep(0.35)
    assert await kv_store.get("seen") is None  # a lease: it lapses unless renewed


async def test_a_refused_claim_neither_takes_nor_waits_for_the_lock(
    kv_store: KeyValueStore,
) -> None:
    await kv_store.set("seen", b"1", ttl=5)
    async with kv_store.lock("c", timeout=5, blocking_timeout=5):
        claim = Claim("seen", ttl=5)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ClaimRefused):
            await kv_store.lock("c", timeout=5, blocking_timeout=5, claim=claim).acquire()
        assert asyncio.get_running_loop().time() - started < 0.5  # no wait behind the holder
        assert not claim.taken
        assert await _queued(kv_store, "c") == 1  # the holder alone
    # and a refused claim on a free lock does not take it either
    with pytest.raises(ClaimRefused):
        await kv_store.lock("c", timeout=5, blocking_timeout=5, claim=Claim("seen", 5)).acquire()
    assert await _queued(kv_store, "c") == 0


async def test_a_waiter_claims_once_then_waits_its_turn(kv_store: KeyValueStore) -> None:
    """The claim is made as the waiter queues; its later polls do not claim again (they
    would find their own claim and give up)."""
    order: list[str] = []
    claim = Claim("seen", ttl=5)

    async def holder() -> None:
        async with kv_store.lock("w", timeout=5, blocking_timeout=1):
            await asyncio.sleep(0.15)
            order.append("holder")

    async def waiter() -> None:
        await asyncio.sleep(0.03)
        async with kv_store.lock("w", timeout=5, blocking_timeout=2, claim=claim):
            order.append("waiter")

    async def watch() -> None:
        await asyncio.sleep(0.08)
        assert claim.taken and await _queued(kv_store, "w") == 2

    await asyncio.gather(holder(), waiter(), watch())
    assert order == ["holder", "waiter"]


async def test_a_claim_and_an_uncontended_lock_take_one_round_trip(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real = redis_store.client.execute_command

    async def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return await real(*args, **kwargs)

    monkeypatch.setattr(redis_store.client, "execute_command", counted)
    async with redis_store.deferred_writes(), redis_store.lock(
        "r", timeout=5, blocking_timeout=5, prefetch=["fsm"], claim=Claim("seen", 5)
    ):
        assert await redis_store.get("fsm") is None  # read ahead in the same script
    assert calls == ["EVALSHA"]  # the release goes in the block's MULTI


async def test_a_claim_sent_again_after_a_lost_answer_is_still_ours(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py sends a command again when the connection dropped before its answer: the
    lock's first call then finds its own claim made, and goes on as the claimant."""
    real = redis_store.turn_script
    sent: list[object] = []

    async def answer_lost_once(**kwargs: object) -> object:
        if not sent:
            sent.append(await real(**kwargs))  # ran in Redis; its answer never came back
        return await real(**kwargs)

    monkeypatch.setattr(redis_store, "turn_script", answer_lost_once)
    claim = Claim("seen", ttl=5)
    async with redis_store.lock("lost", timeout=5, blocking_timeout=1, claim=claim):
        assert claim.taken and await _queued(redis_store, "lost") == 1
    with pytest.raises(ClaimRefused):  # anyone else is still refused
        await redis_store.lock(
            "lost", timeout=5, blocking_timeout=1, claim=Claim("seen", ttl=5)
        ).acquire()
