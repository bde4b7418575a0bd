"""常见问题 (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.console.context import Console
from bot.console.security import AdminSession

__all__ = ["build_faq_router"]


def build_faq_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/console/admin/faq", response_class=HTMLResponse)
    async def page(request: Request, session: AdminSession) -> HTMLResponse:
        return console.render(request, "error.html", message="常见问题：建设中")

    return router
