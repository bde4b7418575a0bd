"""Account management for admins: the list of accounts; disable, enable, change the role,
issue a one-time password-reset code (shown once). Every action is audited and reaches the
account's open sessions at once (:class:`~integrations.accounts.AccountAdmin`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.console.context import Console
from bot.console.security import AdminSession, client_ip
from integrations.accounts import ROLES, AccountError, ConsoleSession, User
from integrations.accounts.users import RESET_CODE_LIFETIME

__all__ = ["build_accounts_router"]

#: what the list page says after an action (``?done=…``), never text from the request
_DONE = {
    "disable": "已停用账号 {name}，它的会话已全部结束。",
    "enable": "已启用账号 {name}。",
    "role": "已修改 {name} 的角色，立即生效。",
}


def build_accounts_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console/admin/accounts", include_in_schema=False)

    async def list_page(
        request: Request,
        session: ConsoleSession,
        *,
        flash: str = "",
        error: str = "",
        status: int = 200,
    ) -> Response:
        users = await console.users.list()
        return console.render(
            request,
            "accounts.html",
            status,
            users=users,
            roles=ROLES,
            flash=flash,
            error=error,
            me=session.username,
        )

    async def target(user_id: int) -> User:
        user = await console.users.get(user_id)
        if user is None:
            raise AccountError("没有这个账号")
        return user

    @router.get("", response_class=HTMLResponse)
    async def accounts(
        request: Request, session: AdminSession, done: str = "", user: int = 0
    ) -> Response:
        flash = ""
        if done in _DONE and user:
            found = await console.users.get(user)
            flash = _DONE[done].format(name=found.username) if found else ""
        return await list_page(request, session, flash=flash)

    async def act(
        request: Request, session: ConsoleSession, user_id: int, action: str, **kw: str
    ) -> Response:
        ip = client_ip(request)
        try:
            user = await target(user_id)
            if action == "disable":
                await console.accounts.disable(session.username, user.username, ip=ip)
            elif action == "enable":
                await console.accounts.enable(session.username, user.username, ip=ip)
            else:
                await console.accounts.set_role(session.username, user.username, kw["role"], ip=ip)
        except AccountError as exc:
            return await list_page(request, session, error=str(exc), status=400)
        return RedirectResponse(f"/console/admin/accounts?done={action}&user={user_id}", 303)

    @router.post("/{user_id}/disable")
    async def disable(request: Request, session: AdminSession, user_id: int) -> Response:
        return await act(request, session, user_id, "disable")

    @router.post("/{user_id}/enable")
    async def enable(request: Request, session: AdminSession, user_id: int) -> Response:
        return await act(request, session, user_id, "enable")

    @router.post("/{user_id}/role")
    async def change_role(
        request: Request,
        session: AdminSession,
        user_id: int,
        role: Annotated[str, Form(max_length=16)],
    ) -> Response:
        return await act(request, session, user_id, "role", role=role)

    @router.post("/{user_id}/reset")
    async def reset(request: Request, session: AdminSession, user_id: int) -> Response:
        try:
            user = await target(user_id)
            user, code = await console.accounts.start_reset(
                session.username, user.username, ip=client_ip(request)
            )
        except AccountError as exc:
            return await list_page(request, session, error=str(exc), status=400)
        # Shown this once (the page is never cached: Cache-Control no-store on the console).
        link = str(request.base_url).rstrip("/") + "/console/reset#" + code
        hours = int(RESET_CODE_LIFETIME.total_seconds() // 3600)
        return console.render(
            request, "account_reset.html", user=user, code=code, link=link, hours=hours
        )

    return router
