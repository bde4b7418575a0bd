"""The bot's routers, in priority order (see :func:`build_routers`)."""

from bot.handlers.basic import build_basic_router

__all__ = ["build_basic_router"]
