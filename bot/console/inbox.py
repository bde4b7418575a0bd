"""人工会话 (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.console.context import Console
from bot.console.security import StaffSession

__all__ = ["build_inbox_router"]


def build_inbox_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/console/inbox", response_class=HTMLResponse)
    async def page(request: Request, session: StaffSession) -> HTMLResponse:
        return console.render(request, "error.html", message="人工会话：建设中")

    return router
