"""The FastAPI application: the WeChat callback at ``/wechat``, ``/healthz`` and ``/livez``.

``create_app()`` builds everything from settings at start-up (never at import), so tests
build apps with their own settings, clock and fakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.api.analytics import create_analytics_router
from bot.api.auth import require_bearer_token
from bot.api.dispatch_callback import create_dispatch_callback_router
from bot.api.handoffs import create_handoffs_router
from bot.api.subscriptions import create_subscriptions_router
from bot.api.tickets import create_tickets_router
from bot.channel import WeChatChannel
from bot.config import Settings, load_settings
from bot.console import mount_console
from bot.runtime import Runtime
from core import heap
from integrations.accounts import AuditLog

__all__ = ["create_app"]

log = logging.getLogger(__name__)

#: Longer texts are not messages a resident sends; parsing them only costs CPU.
MAX_PARSE_CHARS = 2000

PLAIN_MODE_WARNING = (
    "PLAIN MODE: WeChat messages are accepted in plain mode (INTAKE_ALLOW_PLAIN_MODE=true). "
    "Its signature covers only token, timestamp and nonce, NOT the message body: whoever "
    "sees one signed request can send any message as any resident for the next %d seconds. "
    "Switch the Official Account to safe mode and set WECHAT_ENCODING_AES_KEY."
)


def _warn_about_plain_mode(settings: Settings) -> None:
    """Production accepting plain mode is allowed only explicitly, and said loudly."""
    if settings.production and settings.wechat.allow_plain_mode:
        log.warning(PLAIN_MODE_WARNING, int(settings.wechat.timestamp_window))


def _mount_apis(app: FastAPI, runtime: Runtime) -> None:
    """The staff/machine APIs under ``/api`` (bearer ``INTAKE_ADMIN_TOKEN``)."""
    settings = runtime.settings
    assert settings.server.admin_token
    if runtime.ticket_service is not None:
        app.include_router(
            create_tickets_router(
                runtime.ticket_service,
                admin_token=settings.server.admin_token,
                audit_log=AuditLog(runtime.engine),
            )
        )
        app.include_router(
            create_subscriptions_router(
                runtime.ticket_service.consents,
                admin_token=settings.server.admin_token,
                default_template=settings.pushes.subscription_template_id,
            )
        )
        if settings.dispatch.callback_secret:
            app.include_router(
                create_dispatch_callback_router(
                    apply_event=runtime.ticket_service.reports.apply_status_event,
                    secret=settings.dispatch.callback_secret,
                    previous_secrets=[
                        s for s in (settings.dispatch.callback_previous_secret,) if s
                    ],
                    store=runtime.store,
                )
            )
    if runtime.analytics is not None:
        app.include_router(
            create_analytics_router(
                runtime.analytics.reports, admin_token=settings.server.admin_token
            )
        )
    if runtime.handoff_service is not None and runtime.staff_replies is not None:
        app.include_router(
            create_handoffs_router(
                handoffs=runtime.handoff_service,
                replies=runtime.staff_replies,
                admin_token=settings.server.admin_token,
            )
        )


class WeChatEndpoint:
    """``POST /wechat``, the hot path, as plain ASGI in front of the FastAPI app.

    Every message WeChat sends comes here, so it pays none of FastAPI's routing (a walk
    over every console and API route), request and response objects or dependency
    machinery: the body is read with the size limit, the query string parsed, the channel
    answers. Everything else (``GET /wechat``, the console, the APIs) goes on to the app.
    An exception still reaches Starlette's error middleware outside (a 500, logged).
    """

    def __init__(
        self, app: ASGIApp, *, channel: Callable[[], WeChatChannel], max_body_bytes: int
    ) -> None:
        self.app = app
        self.channel = channel
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/wechat" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await self._body(scope, receive)
        if body is None:
            await _answer(send, 413, b"request body too large", b"text/plain; charset=utf-8")
            return
        # As Starlette reads a query string: latin-1, blanks kept, the last value wins.
        params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        result = await self.channel().handle(params, body)
        media_type = result.media_type.encode()
        if media_type.startswith(b"text/"):
            media_type += b"; charset=utf-8"
        await _answer(send, result.status, result.body.encode(), media_type)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The body, or None when its declared or streamed size is over the limit (before
        anything past the limit is buffered)."""
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, media_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    runtime: Runtime | None = None,
    settle_heap: bool = True,
) -> FastAPI:
    """Build the app; ``runtime`` lets tests pass one with fakes wired in (the app still
    starts and closes it with its lifespan). ``settle_heap``: once started, keep what
    start-up made out of later garbage collections (:mod:`core.heap`) — for an app that
    has its process to itself, as ``intake serve`` gives it; not for tests sharing one."""
    settings = settings or load_settings()
    the_runtime = runtime or Runtime.from_settings(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warn_about_plain_mode(settings)
        await the_runtime.start()
        if settle_heap:
            heap.settle()  # start-up made what lives as long as the process
        try:
            yield
        finally:
            await the_runtime.close()

    # The API description maps every route and parameter: public on a development machine,
    # off in production unless INTAKE_API_DOCS=true.
    docs = settings.api_docs_enabled
    app = FastAPI(
        title="intake",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.runtime = the_runtime
    app.state.settings = settings

    _mount_apis(app, the_runtime)
    mount_console(app, the_runtime)

    @app.get("/wechat")
    async def wechat_verify(request: Request, rt: RuntimeDep) -> Response:
        result = rt.channel.verify_url(request.query_params)
        return PlainTextResponse(result.body, status_code=result.status)

    # In production the parse (which echoes the text and the phone numbers it finds) is for
    # holders of the admin token only; on a development machine anyone may try it.
    assert settings.server.admin_token
    parse_guard = (
        [Depends(require_bearer_token(settings.server.admin_token))] if settings.production else []
    )

    @app.post("/model/parse", dependencies=parse_guard)
    async def model_parse(request: Request, rt: RuntimeDep) -> JSONResponse:
        """Rasa's HTTP API shape: ``{"text": ...}`` in, the parse out."""
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            return JSONResponse({"error": "'text' (a string) is required"}, status_code=400)
        if len(text) > MAX_PARSE_CHARS:
            return JSONResponse(
                {"error": f"'text' is longer than {MAX_PARSE_CHARS} characters"}, status_code=413
            )
        if rt.nlu is None:
            return JSONResponse({"error": "no NLU model loaded"}, status_code=503)
        return JSONResponse(rt.nlu.parse(text))

    @app.get("/healthz")
    async def healthz(rt: RuntimeDep) -> JSONResponse:
        checks = await rt.health()
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ok": status == 200, "checks": checks}, status_code=status)

    @app.get("/livez")
    async def livez() -> JSONResponse:
        """This process has started and its event loop answers; Redis and the database are
        not asked. Kubernetes probes use it: with Redis or PostgreSQL away every pod would
        fail ``/healthz`` alike, and taking them all out of service would turn the polite
        holding replies (docs/architecture.md "When a part fails") into errors."""
        return JSONResponse({"ok": True})

    # Added last, so it runs first: POST /wechat never reaches the routes above.
    app.add_middleware(
        WeChatEndpoint,
        channel=lambda: the_runtime.channel,
        max_body_bytes=settings.wechat.max_body_bytes,
    )
    return app
