"""The app measured by bench_channel.py: the real WeChat channel (signature and timestamp
checks, dedup, per-resident lock, FSM, logging, routing) with the basic router and no NLU,
so the figure is the channel's own overhead, not the language model's."""

from __future__ import annotations

from fastapi import FastAPI

from bot.app import create_app
from bot.config import load_settings
from bot.handlers import build_basic_router
from bot.runtime import Runtime
from integrations.db import create_engine
from integrations.state import create_store
from integrations.wechat import WeChatClient


def create() -> FastAPI:
    settings = load_settings()
    store = create_store(settings.redis_url)
    assert settings.wechat_app_id and settings.wechat_app_secret
    runtime = Runtime(
        settings=settings,
        store=store,
        engine=create_engine(settings.effective_database_url),
        wechat=WeChatClient(
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret,
            base_url=settings.wechat_api_base_url,
            store=store,
        ),
        routers=[build_basic_router()],
    )
    return create_app(settings, runtime=runtime)
