"""The dedup claim made in the resident lock's first round trip (the standard middlewares of
``build_dispatcher``), on both stores: the first arrival processes, a retry waits for its
reply without ever queueing on the lock, a lapsed claim is taken over."""

from __future__ import annotations

import asyncio
import time

from bot.delivery import DeliveryLedger
from bot.dispatcher import Dispatcher
from bot.fsm import FSMStorage
from bot.replies import Reply
from bot.runtime import build_dispatcher
from bot.wechat.messages import IncomingMessage
from integrations.state import KeyValueStore, MemoryStore
from integrations.state.redis import RedisStore
from tests.bot.messages import counting_router, text_message


def dispatcher(
    store: KeyValueStore, *, delay: float, processing_ttl: float = 10
) -> tuple[Dispatcher, DeliveryLedger, list[str]]:
    """The standard middlewares around a handler that answers after ``delay`` seconds."""
    router, calls = counting_router(delay)
    ledger = DeliveryLedger(store, processing_ttl=processing_ttl)
    dp = build_dispatcher(
        store=store, ledger=ledger, fsm_storage=FSMStorage(store), routers=[router]
    )
    return dp, ledger, calls


async def queued(store: KeyValueStore, openid: str) -> int:
    """How many messages hold or wait for the resident's lock."""
    name = f"resident:{openid}"
    if isinstance(store, RedisStore):
        return int(await store.client.zcard(store.key(f"lock:{name}:queue")))
    assert isinstance(store, MemoryStore)
    return store._lock_users.get(name, 0)


async def later(seconds: float, dp: Dispatcher, message: IncomingMessage) -> Reply | None:
    await asyncio.sleep(seconds)
    return await dp.feed_update(message)


async def test_first_arrival_processes_and_retries_get_its_reply(
    kv_store: KeyValueStore,
) -> None:
    dp, _, calls = dispatcher(kv_store, delay=0.3)
    message = text_message("井盖丢了", openid="o-claim", msg_id="8001")
    first, during = await asyncio.gather(
        dp.feed_update(message),
        later(0.05, dp, message),  # a retry while it is processed
    )
    after = await dp.feed_update(message)  # a retry once the reply is stored
    assert first == during == after == Reply("第1次处理：井盖丢了")
    assert calls == ["井盖丢了"]


async def test_a_retry_never_queues_behind_the_residents_lock(kv_store: KeyValueStore) -> None:
    dp, _, calls = dispatcher(kv_store, delay=0.4)
    one = text_message("路灯不亮", openid="o-claim", msg_id="8101")
    two = text_message("还有井盖", openid="o-claim", msg_id="8102")

    async def watch() -> int:
        await asyncio.sleep(0.25)  # message two waits for the lock, its retry for its reply
        return await queued(kv_store, "o-claim")

    first, second, retry, in_line = await asyncio.gather(
        dp.feed_update(one), later(0.05, dp, two), later(0.15, dp, two), watch()
    )
    assert in_line == 2  # message one holding, message two waiting: not the retry
    assert first == Reply("第1次处理：路灯不亮")
    assert second == retry == Reply("第2次处理：还有井盖")
    assert calls == ["路灯不亮", "还有井盖"]
    assert await queued(kv_store, "o-claim") == 0


async def test_a_lapsed_claim_is_taken_over(kv_store: KeyValueStore) -> None:
    dp, ledger, calls = dispatcher(kv_store, delay=0.0, processing_ttl=0.5)
    message = text_message("医保电子凭证怎么激活", openid="o-claim", msg_id="8201")
    assert await ledger.claim(message.dedup_key)  # a first arrival whose process died
    started = time.monotonic()
    reply = await dp.feed_update(message)  # WeChat's retry
    assert 0.4 < time.monotonic() - started < 3.0
    assert reply == Reply("第1次处理：医保电子凭证怎么激活")
    assert await dp.feed_update(message) == reply  # the next retry gets the stored reply
    assert calls == ["医保电子凭证怎么激活"]


async def test_a_slow_first_arrival_keeps_the_claim_the_lock_made(
    kv_store: KeyValueStore,
) -> None:
    """The claim's lease is renewed once the lock made it: a retry never takes over a live
    processor, however many leases long it is."""
    dp, _, calls = dispatcher(kv_store, delay=1.0, processing_ttl=0.3)
    message = text_message("噪音扰民", openid="o-claim", msg_id="8301")
    first, retry = await asyncio.gather(dp.feed_update(message), later(0.1, dp, message))
    assert first == retry == Reply("第1次处理：噪音扰民")
    assert calls == ["噪音扰民"]
