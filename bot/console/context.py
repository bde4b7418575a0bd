"""What every console page needs: the runtime's services, templates, sessions, audit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bot.console.bidi import show_safely
from bot.console.login_limits import LoginLimiter
from bot.console.security import client_ip
from integrations.accounts import (
    AccountAdmin,
    AccountStates,
    AuditLog,
    ConsoleSession,
    SessionStore,
    UserStore,
)
from integrations.wechat.photos import PhotoFetcher
from privacy import mask_text

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = ["TEMPLATES_DIR", "Console"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

#: (path, label, admin only) of the navigation bar
NAVIGATION = (
    ("/console/inbox", "人工会话", False),
    ("/console/tickets", "工单", False),
    ("/console/returns", "退单审定", False),
    ("/console/warnings", "预警", False),
    ("/console/analytics", "分析", False),
    ("/console/map", "一张图", False),
    ("/console/admin/faq", "常见问题", True),
    ("/console/admin/intents", "意图与例句", True),
    ("/console/admin/review", "待标注", True),
    ("/console/admin/model", "模型训练", True),
    ("/console/admin/accounts", "账号", True),
    ("/console/admin/audit", "审计日志", True),
    ("/simulator", "模拟器", False),
)


class Console:
    """Shared by the console's routers (one per app, on ``app.state.console``)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.users = UserStore(runtime.engine)
        self.audit_log = AuditLog(runtime.engine)
        self.sessions = SessionStore(runtime.store)
        self.account_states = AccountStates(runtime.store, self.users)
        self.accounts = AccountAdmin(self.users, self.audit_log, self.account_states)
        self.login_limiter = LoginLimiter(runtime.store)
        #: residents' photos shown through the console's own origin (tests swap the transport)
        self.photos = PhotoFetcher()
        self.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
        # Every value a page prints passes here: resident text cannot reorder itself on
        # screen with bidi controls (set before the first template is compiled).
        self.templates.env.finalize = show_safely
        self.templates.env.filters["mask"] = mask_text
        self.templates.env.globals["navigation"] = NAVIGATION

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        session: ConsoleSession | None = getattr(request.state, "console_session", None)
        context.setdefault("session", session)
        context.setdefault("csrf_token", session.csrf_token if session else "")
        context.setdefault("path", request.url.path)
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    async def audit(
        self,
        request: Request,
        session: ConsoleSession,
        action: str,
        target: str,
        detail: str | None = None,
    ) -> None:
        await self.audit_log.record(
            session.username, action, target, detail=detail, ip=client_ip(request)
        )
