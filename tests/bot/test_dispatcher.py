"""The aiogram-like framework: routers, observers, filters, middlewares, per-resident data."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dispatcher import UNHANDLED, Dispatcher, NextHandler, Router, SkipHandler
from bot.filters import EventFilter
from bot.fsm import FSMContext, FSMStorage
from bot.middlewares import FSMContextMiddleware
from bot.replies import Reply
from bot.wechat.messages import IncomingMessage, message_from_fields
from integrations.state import KeyValueStore, MemoryStore
from tests.bot.messages import text_message


def event(name: str, key: str = "") -> IncomingMessage:
    return message_from_fields(
        {
            "ToUserName": "gh",
            "FromUserName": "o-1",
            "CreateTime": "1700000000",
            "MsgType": "event",
            "Event": name,
            "EventKey": key,
        }
    )


async def test_first_matching_handler_answers_and_kinds_are_separate() -> None:
    dp = Dispatcher()
    router = Router(name="main")
    dp.include_router(router)

    @router.text(lambda message: "路灯" in message.text)
    async def streetlight(message: IncomingMessage) -> str:
        return "路灯"

    @router.text()
    def anything(message: IncomingMessage) -> str:
        return "其他"

    @router.event(EventFilter("CLICK", "MENU_FAQ"))
    def menu(message: IncomingMessage) -> str:
        return "菜单"

    assert await dp.feed_update(text_message("小区路灯坏了")) == Reply("路灯")
    assert await dp.feed_update(text_message("你好")) == Reply("其他")
    assert await dp.feed_update(event("CLICK", "MENU_FAQ")) == Reply("菜单")
    assert await dp.feed_update(event("CLICK", "OTHER")) is None  # no handler matched
    assert await dp.feed_raw(event("CLICK", "OTHER")) is UNHANDLED


async def test_nested_routers_in_priority_order_and_catch_all() -> None:
    dp = Dispatcher()
    first, second, third = Router(name="first"), Router(name="second"), Router(name="third")
    dp.include_routers(first, second)
    second.include_router(third)
    calls: list[str] = []

    @first.text(lambda m: m.text == "skip")
    def skipping(message: IncomingMessage) -> str:
        calls.append("first")
        raise SkipHandler

    @third.message()
    def catch_all(message: IncomingMessage) -> str:
        calls.append("third")
        return f"{message.kind}"

    assert await dp.feed_update(text_message("skip")) == Reply("text")
    assert calls == ["first", "third"]
    assert await dp.feed_update(event("VIEW", "https://x")) == Reply("event")


def test_router_cannot_be_included_twice_or_in_a_cycle() -> None:
    a, b, c = Router(name="a"), Router(name="b"), Router(name="c")
    a.include_router(b)
    b.include_router(c)
    with pytest.raises(ValueError, match="already included"):
        Router(name="d").include_router(b)
    with pytest.raises(ValueError, match="cycle"):
        c.include_router(a)
    with pytest.raises(ValueError, match="itself"):
        a.include_router(a)


async def test_filter_dicts_feed_handler_kwargs_and_only_declared_kwargs_are_passed() -> None:
    dp = Dispatcher(greeting="您好")
    router = Router()
    dp.include_router(router)

    def parsed(message: IncomingMessage) -> dict[str, Any]:
        return {"parse": {"intent": {"name": "report.streetlight", "confidence": 0.91}}}

    def reports(message: IncomingMessage, parse: dict[str, Any]) -> dict[str, Any] | bool:
        name = parse["intent"]["name"]
        return {"intent": name} if name.startswith("report.") else False

    @router.text(parsed, reports)
    def report(message: IncomingMessage, intent: str, greeting: str) -> str:
        return f"{greeting}:{intent}"

    assert await dp.feed_update(text_message("路灯坏了")) == Reply("您好:report.streetlight")


async def test_outer_and_inner_middlewares_wrap_in_order() -> None:
    dp = Dispatcher()
    router = Router()
    dp.include_router(router)
    trace: list[str] = []

    async def outer(handler: NextHandler, ev: IncomingMessage, data: dict[str, Any]) -> Any:
        trace.append("outer-in")
        data["from_outer"] = 1
        result = await handler(ev, data)
        trace.append("outer-out")
        return result

    async def inner(handler: NextHandler, ev: IncomingMessage, data: dict[str, Any]) -> Any:
        trace.append(f"inner:{data['handler'].__name__}")
        return await handler(ev, data)

    dp.outer_middleware(outer)
    router.middleware(inner)

    @router.text()
    def answer(message: IncomingMessage, from_outer: int) -> str:
        trace.append("handler")
        return str(from_outer)

    assert await dp.feed_update(text_message("hi")) == Reply("1")
    assert trace == ["outer-in", "inner:answer", "handler", "outer-out"]


async def test_inner_middleware_not_run_when_no_filter_passes() -> None:
    dp = Dispatcher()
    router = Router()
    dp.include_router(router)
    seen: list[str] = []

    async def inner(handler: NextHandler, ev: IncomingMessage, data: dict[str, Any]) -> Any:
        seen.append("inner")
        return await handler(ev, data)

    router.middleware(inner)
    router.text(lambda m: False)(lambda m: "never")
    assert await dp.feed_update(text_message("hi")) is None
    assert seen == []


async def test_fsm_context_round_trip(kv_store: KeyValueStore) -> None:
    """Each resident's data outlives the update that wrote it, and residents never mix."""
    storage = FSMStorage(kv_store, ttl=60)
    dp = Dispatcher()
    dp.outer_middleware(FSMContextMiddleware(storage))
    router = Router()
    dp.include_router(router)

    @router.text()
    async def form(message: IncomingMessage, state: FSMContext) -> str:
        data = await state.get_data()
        if "problem" not in data:
            await state.update_data(problem=message.text)
            return "在哪里？"
        data = await state.update_data(location=message.text)
        return f"{data['problem']}|{data['location']}"

    assert await dp.feed_update(text_message("路灯坏了")) == Reply("在哪里？")
    # another resident is independent
    assert await dp.feed_update(text_message("你好", openid="o-other")) == Reply("在哪里？")
    assert await dp.feed_update(text_message("幸福小区3号楼")) == Reply("路灯坏了|幸福小区3号楼")
    assert (await storage.load("o-other")).data == {"problem": "你好"}


async def test_fsm_data_is_copied_not_shared(kv_store: KeyValueStore) -> None:
    ctx = FSMContext(FSMStorage(kv_store), "o-1")
    await ctx.update_data(slots={"phone": "1"})
    data = await ctx.get_data()
    data["slots"]["phone"] = "changed"
    assert (await FSMContext(FSMStorage(kv_store), "o-1").get_data()) == {"slots": {"phone": "1"}}


async def test_fsm_data_expires_with_ttl() -> None:
    now = [1000.0]
    store = MemoryStore(monotonic=lambda: now[0])
    ctx = FSMContext(FSMStorage(store, ttl=60), "o-1")
    await ctx.update_data(problem="路灯坏了")
    now[0] += 61
    assert await FSMContext(FSMStorage(store, ttl=60), "o-1").get_data() == {}
