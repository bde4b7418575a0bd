"""The staff and admin web console (Chinese), served by the same FastAPI app.

``mount_console(app, runtime)`` adds the pages under ``/console``, their JSON endpoints
under ``/console/api``, the static files and ``/simulator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bot.console.context import STATIC_DIR, Console
from bot.console.invalid import answer_invalid_request
from bot.console.security import (
    ConsoleHeadersMiddleware,
    LoginRequired,
    NotAllowed,
    login_redirect_url,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = ["Console", "mount_console"]


def mount_console(app: FastAPI, runtime: Runtime) -> Console:
    from bot.console.accounts_pages import build_accounts_router
    from bot.console.admin_faq import build_faq_router
    from bot.console.admin_model import build_model_router
    from bot.console.admin_training import build_training_router
    from bot.console.analytics import build_analytics_router
    from bot.console.audit_pages import build_audit_router
    from bot.console.auth_pages import build_auth_router
    from bot.console.inbox import build_inbox_router
    from bot.console.simulator import build_simulator_router
    from bot.console.ticket_loop import build_ticket_loop_router
    from bot.console.tickets import build_tickets_router

    console = Console(runtime)
    app.state.console = console
    for build in (
        build_auth_router,
        build_inbox_router,
        build_tickets_router,
        build_ticket_loop_router,
        build_analytics_router,
        build_faq_router,
        build_training_router,
        build_model_router,
        build_audit_router,
        build_accounts_router,
        build_simulator_router,
    ):
        app.include_router(build(console))
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.api:
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse(login_redirect_url(exc.next_url), status_code=303)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        if request.url.path.startswith("/console/api/"):
            return JSONResponse({"error": exc.message}, status_code=403)
        return console.render(request, "error.html", 403, message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return await answer_invalid_request(console, request, exc)

    app.add_middleware(ConsoleHeadersMiddleware)
    return console
