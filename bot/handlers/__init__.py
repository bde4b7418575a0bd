"""The bot's routers, in priority order (see :func:`build_routers`)."""

from bot.handlers.basic import build_basic_router
from bot.handlers.subscriptions import build_subscription_router

__all__ = ["build_basic_router", "build_subscription_router"]
