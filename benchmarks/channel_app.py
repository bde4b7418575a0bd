"""The app measured by bench_channel.py: the real WeChat channel (signature and timestamp
checks, dedup, per-resident lock, FSM, logging, routing) with a router that answers every
text at once and no NLU, so the figure is the channel's own overhead, not the language
model's."""

from __future__ import annotations

from fastapi import FastAPI

from bot.app import create_app
from bot.config import load_settings
from bot.dispatcher import Router
from bot.handlers import build_basic_router
from bot.runtime import Runtime
from bot.wechat.messages import IncomingMessage
from integrations.db import create_engine
from integrations.state import create_store
from integrations.wechat import WeChatClient


def answer_router() -> Router:
    """Every text gets one short passive reply, as a conversation's would."""
    router = Router(name="bench-answer")

    @router.text()
    def on_text(message: IncomingMessage) -> str:
        return "收到，谢谢您的反映。"

    return router


def create() -> FastAPI:
    settings = load_settings()
    store = create_store(settings.redis_url)
    assert settings.wechat.app_id and settings.wechat.app_secret
    runtime = Runtime(
        settings=settings,
        store=store,
        engine=create_engine(settings.effective_database_url),
        wechat=WeChatClient(
            app_id=settings.wechat.app_id,
            app_secret=settings.wechat.app_secret,
            base_url=settings.wechat.api_base_url,
            store=store,
        ),
        routers=[answer_router(), build_basic_router()],
    )
    return create_app(settings, runtime=runtime)
