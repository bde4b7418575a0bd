"""Login, logout and the console's start page."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.console.context import Console
from bot.console.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    StaffSession,
    client_ip,
    safe_next,
)

__all__ = ["build_auth_router"]


def build_auth_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    secure = console.runtime.settings.production

    def login_page(request: Request, next_url: str, error: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = console.render(
            request, "login.html", status, login_csrf=token, next_url=next_url, error=error
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/console/login",
        )
        return response

    @router.get("/login", response_class=HTMLResponse)
    async def show_login(request: Request, next: str = "/console") -> Response:
        return login_page(request, safe_next(next))

    @router.post("/login")
    async def do_login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        csrf_token: Annotated[str, Form(max_length=128)] = "",
        next: Annotated[str, Form(max_length=512)] = "/console",
    ) -> Response:
        next_url = safe_next(next)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not csrf_token or not secrets.compare_digest(csrf_token, cookie):
            return login_page(request, next_url, "登录页已过期，请重新输入。", 403)
        ip = client_ip(request)
        username = username.strip()
        if await console.rate_limiter.blocked(username, ip):
            await console.audit_log.record(username, "login.blocked", "console", ip=ip)
            return login_page(request, next_url, "尝试次数过多，请 15 分钟后再试。", 429)
        user = await console.users.authenticate(username, password)
        if user is None:
            await console.rate_limiter.failed(username, ip)
            await console.audit_log.record(username or "-", "login.failed", "console", ip=ip)
            return login_page(request, next_url, "用户名或密码不对。", 401)
        await console.rate_limiter.succeeded(username, ip)
        # A fresh session every time, and whatever token the browser brought is ended.
        await console.sessions.end(request.cookies.get(SESSION_COOKIE))
        token, _ = await console.sessions.create(
            user_id=user.id, username=user.username, display_name=user.display_name, role=user.role
        )
        await console.audit_log.record(user.username, "login", "console", ip=ip)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
        return response

    @router.post("/logout")
    async def logout(request: Request, session: StaffSession) -> Response:
        await console.sessions.end(request.cookies.get(SESSION_COOKIE))
        await console.audit(request, session, "logout", "console")
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("", response_class=HTMLResponse)
    async def home(session: StaffSession) -> Response:
        return RedirectResponse("/console/inbox", status_code=303)

    return router
