"""Routers: observers per WeChat update kind, nested routers tried in order.

``router.text``, ``router.voice``, ``router.image`` … each hold handlers for one kind of
update; ``router.message`` catches every kind after the kind's own observer. A voice message
with WeChat's recognition is offered to ``router.voice`` and then to ``router.text``, so
residents who speak are understood like those who type. A router tries
its own handlers first, then its sub-routers in the order they were included, and the first
handler that matches answers (priority is visible in one line of ``include_router`` calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from bot.dispatcher.handler import CallableObject, Filter, HandlerObject, SkipHandler
from bot.dispatcher.middleware import Middleware, NextHandler, wrap_middlewares
from bot.wechat.messages import IncomingMessage

__all__ = ["UNHANDLED", "Observer", "Router"]


class _Unhandled:
    """Sentinel: no handler of this router took the update."""

    _instance: _Unhandled | None = None

    def __new__(cls) -> _Unhandled:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNHANDLED"

    def __bool__(self) -> bool:
        return False


UNHANDLED: Final = _Unhandled()

KINDS: Final = ("text", "voice", "image", "video", "location", "link", "event", "unknown")

HandlerFunc = Callable[..., Any]


class Observer:
    """The handlers of one update kind in one router."""

    def __init__(self, router: Router, kind: str) -> None:
        self.router = router
        self.kind = kind
        self.handlers: list[HandlerObject] = []

    def register(self, callback: HandlerFunc, *filters: Filter) -> HandlerFunc:
        """Add a handler; it runs when every filter passes (filters are plain callables)."""
        self.handlers.append(
            HandlerObject(
                handler=CallableObject(callback),
                filters=tuple(CallableObject(f) for f in (*self.router.filters, *filters)),
            )
        )
        return callback

    def __call__(self, *filters: Filter) -> Callable[[HandlerFunc], HandlerFunc]:
        """Decorator form: ``@router.event(EventFilter("click"))``."""

        def decorator(callback: HandlerFunc) -> HandlerFunc:
            return self.register(callback, *filters)

        return decorator

    async def trigger(
        self, event: IncomingMessage, data: dict[str, Any], middlewares: Sequence[Middleware]
    ) -> Any:
        for handler in self.handlers:
            extra = await handler.check(event, data)
            if extra is None:
                continue
            call_data = {**data, **extra, "handler": handler.handler.callback}

            async def invoke(
                ev: IncomingMessage, d: dict[str, Any], _h: HandlerObject = handler
            ) -> Any:
                return await _h.handler.call(ev, d)

            chain: NextHandler = wrap_middlewares(middlewares, invoke)
            try:
                return await chain(event, call_data)
            except SkipHandler:
                continue
        return UNHANDLED


class Router:
    """A named group of handlers, with router-wide filters and inner middlewares.

    Inner middlewares wrap each handler call after its filters passed, for this router's
    handlers and those of its sub-routers.
    """

    def __init__(self, *, name: str | None = None, filters: Sequence[Filter] = ()) -> None:
        self.name = name or f"router-{id(self):x}"
        self.filters: tuple[Filter, ...] = tuple(filters)
        self.parent: Router | None = None
        self.sub_routers: list[Router] = []
        self.inner_middlewares: list[Middleware] = []
        self.observers: dict[str, Observer] = {kind: Observer(self, kind) for kind in KINDS}
        self.message = Observer(self, "message")

    # one attribute per kind, for ``@router.text(...)`` style registration
    @property
    def text(self) -> Observer:
        return self.observers["text"]

    @property
    def voice(self) -> Observer:
        return self.observers["voice"]

    @property
    def image(self) -> Observer:
        return self.observers["image"]

    @property
    def video(self) -> Observer:
        return self.observers["video"]

    @property
    def location(self) -> Observer:
        return self.observers["location"]

    @property
    def link(self) -> Observer:
        return self.observers["link"]

    @property
    def event(self) -> Observer:
        return self.observers["event"]

    @property
    def unknown(self) -> Observer:
        return self.observers["unknown"]

    def middleware(self, middleware: Middleware) -> Middleware:
        """Register an inner middleware (usable as a decorator)."""
        self.inner_middlewares.append(middleware)
        return middleware

    def include_router(self, router: Router) -> Router:
        """Attach ``router`` below this one; refuses a router included twice or a cycle."""
        if router is self:
            raise ValueError(f"router {self.name!r} cannot include itself")
        if router.parent is not None:
            raise ValueError(
                f"router {router.name!r} is already included in {router.parent.name!r}"
            )
        ancestor: Router | None = self
        while ancestor is not None:
            if ancestor is router:
                raise ValueError(f"including {router.name!r} in {self.name!r} makes a cycle")
            ancestor = ancestor.parent
        router.parent = self
        self.sub_routers.append(router)
        return router

    def include_routers(self, *routers: Router) -> None:
        for router in routers:
            self.include_router(router)

    async def propagate(
        self,
        event: IncomingMessage,
        data: dict[str, Any],
        middlewares: Sequence[Middleware] = (),
    ) -> Any:
        """Offer ``event`` to this router's handlers, then to its sub-routers, in order."""
        chain = (*middlewares, *self.inner_middlewares)
        observers = [self.observers[kind] for kind in event.observer_kinds]
        for observer in (*observers, self.message):
            result = await observer.trigger(event, data, chain)
            if result is not UNHANDLED:
                return result
        for router in self.sub_routers:
            result = await router.propagate(event, data, chain)
            if result is not UNHANDLED:
                return result
        return UNHANDLED
