"""意图与例句 (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.console.context import Console
from bot.console.security import AdminSession

__all__ = ["build_training_router"]


def build_training_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/console/admin/intents", response_class=HTMLResponse)
    async def page(request: Request, session: AdminSession) -> HTMLResponse:
        return console.render(request, "error.html", message="意图与例句：建设中")

    return router
