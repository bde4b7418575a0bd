"""Login, logout, setting a password with a one-time reset code, and the start page.

A login is first admitted by the :class:`~bot.console.login_limits.LoginLimiter` (before the
password is checked), then checked in the hashing pool off the event loop. What was typed
as a username is written to the audit log only when it names an account: people type
passwords into the username field, so an unknown name is logged as an HMAC fingerprint
that lets admins see repeats without learning the text.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.console.context import Console
from bot.console.login_limits import Outcome
from bot.console.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    StaffSession,
    client_ip,
    safe_next,
)
from integrations.accounts import AccountError, HashingBusy, LoginOutcome

__all__ = ["UNKNOWN_ACCOUNT", "build_auth_router", "typed_name_fingerprint"]

#: the audit log's actor for a failed login whose username is not an account
UNKNOWN_ACCOUNT = "（未知账号）"
RESET_CSRF_COOKIE = "intake_reset_csrf"


def typed_name_fingerprint(typed: str, key: str) -> str:
    """8 hex digits of an HMAC of what was typed: equal for equal input, useless for
    recovering it without the key (the admin token, never in the audit log)."""
    digest = hmac.new(key.encode(), b"login-name:" + typed.encode(), hashlib.sha256)
    return digest.hexdigest()[:8]


def _wait_message(seconds: int) -> str:
    if seconds < 60:
        return f"尝试次数过多，请 {seconds} 秒后再试。"
    return f"尝试次数过多，请 {math.ceil(seconds / 60)} 分钟后再试。"


def build_auth_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    settings = console.runtime.settings
    secure = settings.production
    fingerprint_key = settings.server.admin_token or ""

    def form_page(
        request: Request,
        template: str,
        cookie: str,
        cookie_path: str,
        status: int = 200,
        **context: object,
    ) -> Response:
        """A page whose form is protected by a double-submit CSRF cookie (no session yet)."""
        token = secrets.token_urlsafe(24)
        response = console.render(request, template, status, form_csrf=token, **context)
        response.set_cookie(
            cookie, token, httponly=True, samesite="strict", secure=secure, path=cookie_path
        )
        return response

    def login_page(
        request: Request, next_url: str, error: str = "", status: int = 200, notice: str = ""
    ) -> Response:
        return form_page(
            request,
            "login.html",
            LOGIN_CSRF_COOKIE,
            "/console/login",
            status,
            next_url=next_url,
            error=error,
            notice=notice,
        )

    def form_token_ok(request: Request, cookie: str, given: str) -> bool:
        expected = request.cookies.get(cookie, "")
        return bool(given and expected) and secrets.compare_digest(given, expected)

    def audit_name(typed: str, exists: bool) -> tuple[str, str | None]:
        if exists:
            return typed, None
        fingerprint = typed_name_fingerprint(typed, fingerprint_key)
        return UNKNOWN_ACCOUNT, f"输入的用户名不是账号，已隐去（指纹 {fingerprint}）"

    async def note_blocked(username: str, ip: str) -> None:
        # Once a minute per name and address: a flood of refused attempts must not become a
        # flood of audit rows.
        digest = hashlib.sha256(f"{username.lower()}|{ip}".encode()).hexdigest()[:32]
        key = "console:login:blocked-noted:" + digest
        if not await console.runtime.store.set(key, b"1", ttl=60.0, only_if_absent=True):
            return
        user = await console.users.by_username(username)
        actor, detail = audit_name(username, user is not None)
        await console.audit_log.record(actor, "login.blocked", "console", detail=detail, ip=ip)

    @router.get("/login", response_class=HTMLResponse)
    async def show_login(request: Request, next: str = "/console", reset: str = "") -> Response:
        notice = "新密码已设置，请用它登录。" if reset == "done" else ""
        return login_page(request, safe_next(next), notice=notice)

    @router.post("/login")
    async def do_login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        csrf_token: Annotated[str, Form(max_length=128)] = "",
        next: Annotated[str, Form(max_length=512)] = "/console",
    ) -> Response:
        next_url = safe_next(next)
        if not form_token_ok(request, LOGIN_CSRF_COOKIE, csrf_token):
            return login_page(request, next_url, "登录页已过期，请重新输入。", 403)
        ip = client_ip(request)
        username = username.strip()
        admission = await console.login_limiter.admit(username, ip)
        if not admission.allowed:
            await note_blocked(username, ip)
            response = login_page(request, next_url, _wait_message(admission.retry_after), 429)
            response.headers["Retry-After"] = str(admission.retry_after)
            return response
        try:
            check = await console.users.check_login(username, password)
        except HashingBusy:
            await console.login_limiter.conclude(admission, Outcome.UNCHECKED)
            response = login_page(request, next_url, "登录的人太多，请稍等几秒再试。", 503)
            response.headers["Retry-After"] = "2"
            return response
        except BaseException:
            await console.login_limiter.conclude(admission, Outcome.UNCHECKED)
            raise
        if check.outcome is not LoginOutcome.OK or check.user is None:
            await console.login_limiter.conclude(admission, Outcome.FAILURE)
            actor, detail = audit_name(username, check.exists)
            if check.outcome is LoginOutcome.DISABLED:
                detail = "账号已停用"
            await console.audit_log.record(actor, "login.failed", "console", detail=detail, ip=ip)
            if check.outcome is LoginOutcome.DISABLED:
                return login_page(request, next_url, "这个账号已停用，请联系管理员。", 403)
            return login_page(request, next_url, "用户名或密码不对。", 401)
        await console.login_limiter.conclude(admission, Outcome.SUCCESS)
        user = check.user
        # A fresh session every time, and whatever token the browser brought is ended.
        await console.sessions.end(request.cookies.get(SESSION_COOKIE))
        token, _ = await console.sessions.create(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            session_epoch=user.session_epoch,
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

    # -- a new password with a one-time code ---------------------------------------------

    def reset_page(request: Request, error: str = "", status: int = 200) -> Response:
        return form_page(
            request, "reset.html", RESET_CSRF_COOKIE, "/console/reset", status, error=error
        )

    @router.get("/reset", response_class=HTMLResponse)
    async def show_reset(request: Request) -> Response:
        # The code travels in the link's #fragment, which browsers never send: it stays out
        # of every access log and Referer. reset.js copies it into the form.
        return reset_page(request)

    @router.post("/reset")
    async def do_reset(
        request: Request,
        code: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        password2: Annotated[str, Form(max_length=256)],
        csrf_token: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        if not form_token_ok(request, RESET_CSRF_COOKIE, csrf_token):
            return reset_page(request, "页面已过期，请重新输入。", 403)
        if password != password2:
            return reset_page(request, "两次输入的新密码不一致，请重新输入。", 400)
        try:
            await console.accounts.finish_reset(code, password, ip=client_ip(request))
        except AccountError as exc:
            return reset_page(request, str(exc), 400)
        except HashingBusy:
            return reset_page(request, "现在设置密码的人太多，请稍等几秒再试。", 503)
        response = RedirectResponse("/console/login?reset=done", status_code=303)
        response.delete_cookie(RESET_CSRF_COOKIE, path="/console/reset")
        return response

    @router.get("", response_class=HTMLResponse)
    async def home(session: StaffSession) -> Response:
        return RedirectResponse("/console/inbox", status_code=303)

    return router
