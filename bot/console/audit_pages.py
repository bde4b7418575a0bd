"""The audit log page (admins): who saw or changed what."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.console.context import Console
from bot.console.security import AdminSession

__all__ = ["build_audit_router"]


def build_audit_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console/admin", include_in_schema=False)

    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(
        request: Request, session: AdminSession, actor: str = "", action: str = ""
    ) -> HTMLResponse:
        entries = await console.audit_log.recent(
            limit=300, actor=actor.strip() or None, action=action.strip() or None
        )
        return console.render(request, "audit.html", entries=entries, actor=actor, action=action)

    return router
