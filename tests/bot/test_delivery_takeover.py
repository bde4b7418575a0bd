"""A message whose first arrival's process died (its claim lapses, no result) is answered
by WeChat's retry; a live, slow processor keeps its claim and the retry waits for it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.delivery import TAKEN_OVER, DeliveryLedger
from bot.replies import Reply
from integrations.state import KeyValueStore
from integrations.state.lease import renewing
from tests.bot.wechat_harness import running_app


async def test_a_lapsed_claim_is_taken_over_by_the_retry(kv_store: KeyValueStore) -> None:
    ledger = DeliveryLedger(kv_store, processing_ttl=0.3)
    assert await ledger.claim("msg:1")  # the first arrival, whose process then dies
    started = time.monotonic()
    ready, reply = await ledger.wait_result("msg:1", 3.0, take_over=0.05)
    assert (ready, reply) == (False, TAKEN_OVER)
    assert 0.2 < time.monotonic() - started < 1.5
    assert not await ledger.claim("msg:1")  # the retry holds it now


async def test_a_live_slow_processor_keeps_its_claim(kv_store: KeyValueStore) -> None:
    ledger = DeliveryLedger(kv_store, processing_ttl=0.3)
    assert await ledger.claim("msg:2")

    async def first_arrival() -> None:
        async with renewing(lambda: ledger.renew("msg:2"), ledger.processing_ttl / 3):
            await asyncio.sleep(1.0)  # three leases long
        await ledger.save_result("msg:2", Reply("已为您登记"))

    worker = asyncio.create_task(first_arrival())
    ready, reply = await ledger.wait_result("msg:2", 3.0, take_over=0.05)
    await worker
    assert ready and reply == Reply("已为您登记")


def test_a_retry_answers_when_the_first_arrivals_process_died(tmp_path: Path) -> None:
    """Over HTTP: the message is marked as being processed (by a process that then died);
    WeChat's retry waits for that claim to lapse and answers the resident itself."""
    with running_app(tmp_path) as app:
        app.runtime.ledger.processing_ttl = 1.0
        request = app.signer.text("o-takeover", "医保电子凭证怎么激活", msg_id="7700000001")
        key = "msg:7700000001"
        assert asyncio.run(app.runtime.ledger.claim(key))  # the dead process's claim
        started = time.monotonic()
        reply = app.reply(app.post(request)) or ""
        assert "医保电子凭证" in reply
        assert 0.5 < time.monotonic() - started < 4.0
