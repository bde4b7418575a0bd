"""An aiogram-like dispatcher for WeChat updates: routers, observers, filters, middlewares."""

from bot.dispatcher.dispatcher import Dispatcher
from bot.dispatcher.handler import SkipHandler
from bot.dispatcher.middleware import Middleware, NextHandler
from bot.dispatcher.router import UNHANDLED, Router

__all__ = ["UNHANDLED", "Dispatcher", "Middleware", "NextHandler", "Router", "SkipHandler"]
