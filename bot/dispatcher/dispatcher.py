"""The root router: outer middlewares around the whole propagation of one update."""

from __future__ import annotations

from typing import Any

from bot.dispatcher.middleware import Middleware, wrap_middlewares
from bot.dispatcher.router import UNHANDLED, Router
from bot.replies import Reply, as_reply
from bot.wechat.messages import IncomingMessage

__all__ = ["Dispatcher"]


class Dispatcher(Router):
    """Feeds updates through outer middlewares (dedup, per-resident lock, logging, FSM…) and
    the router tree. Shared objects (stores, clients, NLU) are passed once as ``workflow_data``
    and reach every filter, middleware and handler that names them."""

    def __init__(self, *, name: str = "dispatcher", **workflow_data: Any) -> None:
        super().__init__(name=name)
        self.outer_middlewares: list[Middleware] = []
        self.workflow_data: dict[str, Any] = dict(workflow_data)

    def outer_middleware(self, middleware: Middleware) -> Middleware:
        """Register an outer middleware: it wraps every update, before any filter runs."""
        self.outer_middlewares.append(middleware)
        return middleware

    def __setitem__(self, key: str, value: Any) -> None:
        self.workflow_data[key] = value

    def __getitem__(self, key: str) -> Any:
        return self.workflow_data[key]

    async def _propagate(self, event: IncomingMessage, data: dict[str, Any]) -> Any:
        return await self.propagate(event, data)

    async def feed_raw(self, event: IncomingMessage, **data: Any) -> Any:
        """Run one update; returns what the handler returned, or ``UNHANDLED``."""
        call_data = {**self.workflow_data, **data, "dispatcher": self}
        chain = wrap_middlewares(self.outer_middlewares, self._propagate)
        return await chain(event, call_data)

    async def feed_update(self, event: IncomingMessage, **data: Any) -> Reply | None:
        """Run one update and return its reply (``None``: nothing to say)."""
        result = await self.feed_raw(event, **data)
        if result is UNHANDLED:
            return None
        return as_reply(result)
