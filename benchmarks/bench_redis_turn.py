"""CPU of a message's Redis round trips in the web process: the dedup claim sent on its own
against the claim made in the resident lock's script, with redis-py's Python reply parser
and with hiredis, side by side in the same run.

Each message goes through the standard outer middlewares that talk to the store
(``DeferredWritesMiddleware`` → ``DedupMiddleware`` → ``ResidentLockMiddleware``, the turn's
dialogue state and chat read ahead: ~0.2 and ~1 KB, their sizes in a load run) to a handler
that answers at once, 32 at a time over 1,000 residents, on a real Redis;
``time.process_time`` of the process per message. The other round trip of a message (the
passive-delivery claim) and everything else the turn does are not in it.

    .venv/bin/python benchmarks/bench_redis_turn.py --redis-url redis://127.0.0.1:6379/13

The database is flushed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from redis import asyncio as aioredis  # noqa: E402
from redis.asyncio import connection  # noqa: E402
from redis.utils import HIREDIS_AVAILABLE  # noqa: E402

from benchmarks.repeat import Metric, Runs  # noqa: E402
from bot.delivery import DeliveryLedger  # noqa: E402
from bot.dispatcher import Dispatcher, Router  # noqa: E402
from bot.middlewares import (  # noqa: E402
    DedupMiddleware,
    DeferredWritesMiddleware,
    ResidentLockMiddleware,
)
from bot.wechat.messages import IncomingMessage, message_from_fields  # noqa: E402
from integrations.state.redis import RedisStore  # noqa: E402

PARSERS = {"python": connection._AsyncRESP3Parser, "hiredis": connection._AsyncHiredisParser}
MODES = {"alone": False, "in_lock": True}  # DedupMiddleware's claim_in_lock
CONCURRENCY = 32
RESIDENTS = 1000
#: what a turn reads ahead, about as large as in a load run (state ~0.2 KB, chat ~1 KB)
STATE = ('{"state": "complaint:address", "data": {"problem": "路灯不亮"}}' * 3).encode()
CHAT = ('{"at": "2026-12-03T17:29:23+00:00", "role": "bot", "text": "您想了解"}' * 14).encode()


def _message(i: int) -> IncomingMessage:
    return message_from_fields(
        {
            "ToUserName": "gh",
            "FromUserName": f"o-bench-{i % RESIDENTS}",
            "CreateTime": "1700000000",
            "MsgType": "text",
            "Content": "路灯不亮",
            "MsgId": str(10_000_000 + i),
        }
    )


def _dispatcher(store: RedisStore, claim_in_lock: bool) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.outer_middleware(DeferredWritesMiddleware(store))
    dispatcher.outer_middleware(DedupMiddleware(DeliveryLedger(store), claim_in_lock=claim_in_lock))
    dispatcher.outer_middleware(
        ResidentLockMiddleware(store, prefetch=lambda openid: (f"fsm:{openid}", f"chat:{openid}"))
    )
    router = Router()
    router.text()(lambda message: "好的")
    dispatcher.include_router(router)
    return dispatcher


async def _cpu_ms(dispatcher: Dispatcher, first: int, times: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await dispatcher.feed_update(_message(i))

    await asyncio.gather(*(one(first + i) for i in range(300)))  # warm: connections, script
    started = time.process_time()
    await asyncio.gather(*(one(first + 300 + i) for i in range(times)))
    return (time.process_time() - started) / times * 1000


async def _once(url: str, times: int, parsers: list[str]) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    first = 0
    for parser in parsers:
        client = aioredis.Redis.from_url(url, parser_class=PARSERS[parser])
        store = RedisStore(client, namespace="bench-turn")
        await client.flushdb()
        for resident in range(RESIDENTS):
            await store.set(f"fsm:o-bench-{resident}", STATE)
            await store.set(f"chat:o-bench-{resident}", CHAT)
        figures[parser] = {}
        for mode, claim_in_lock in MODES.items():
            figures[parser][mode] = await _cpu_ms(_dispatcher(store, claim_in_lock), first, times)
            first += times + 300  # new message ids: every message is a first arrival
        await client.flushdb()
        await store.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--times", type=int, default=4000, help="messages per shape")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    parsers = ["python", "hiredis"] if HIREDIS_AVAILABLE else ["python"]
    runs = Runs("bench_redis_turn", count=args.runs, settings=f"{args.times} messages a shape")
    for index, _ in enumerate(runs):
        # every other run the other parser first: neither always runs on a warmer machine
        order = parsers if index % 2 == 0 else parsers[::-1]
        figures = asyncio.run(_once(args.redis_url, args.times, order))
        for name in parsers:
            line = "  ".join(f"claim {m} {figures[name][m]:.3f}" for m in MODES)
            print(f"   {name:<8} ms CPU a message: {line}")
        runs.record(figures)
    runs.report(
        [
            Metric(f"{name}.{mode}", f"{name} parser, claim {mode}", "ms CPU", digits=3)
            for name in parsers
            for mode in MODES
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
