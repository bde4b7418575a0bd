"""Console access control: who is logged in, roles, CSRF, login rate limits, headers.

Pages answer an anonymous visitor with a redirect to the login page; the JSON endpoints
under ``/console/api`` answer 401. Staff reaching an admin page get 403. Every unsafe
request (POST and friends) must carry the session's CSRF token, as the ``csrf_token``
form field or the ``X-CSRF-Token`` header, and, when the browser sends an ``Origin``, come
from this site.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrations.accounts import ConsoleSession, SessionStore
from integrations.state import KeyValueStore

__all__ = [
    "SESSION_COOKIE",
    "AdminSession",
    "ConsoleHeadersMiddleware",
    "LoginRateLimiter",
    "LoginRequired",
    "NotAllowed",
    "StaffSession",
    "check_csrf",
    "client_ip",
    "current_session",
    "require_admin",
    "require_staff",
    "safe_next",
]

SESSION_COOKIE = "intake_console"
LOGIN_CSRF_COOKIE = "intake_login_csrf"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No valid session; carries where the visitor wanted to go."""

    def __init__(self, next_url: str, *, api: bool) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.api = api


class NotAllowed(Exception):
    """Logged in, but the role does not allow this (or the CSRF check failed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def safe_next(value: str | None) -> str:
    """Only a path inside the console may follow a login (no open redirect)."""
    if not value:
        return "/console"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in value:
        return "/console"
    return value


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/console/api/")


async def current_session(request: Request) -> ConsoleSession | None:
    sessions: SessionStore = request.app.state.console.sessions
    return await sessions.get(request.cookies.get(SESSION_COOKIE))


async def check_csrf(request: Request, session: ConsoleSession) -> None:
    """Refuse an unsafe request without this session's CSRF token or from another origin."""
    if request.method not in _UNSAFE:
        return
    origin = request.headers.get("origin")
    if (
        origin
        and origin != "null"
        and urlsplit(origin).netloc != request.headers.get("host", request.url.netloc)
    ):
        raise NotAllowed("请求来源不对，已拒绝（CSRF）")
    given = request.headers.get("x-csrf-token")
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        raise NotAllowed("页面已过期或请求无效，请刷新后重试（CSRF 校验失败）")


async def require_staff(request: Request) -> ConsoleSession:
    """Any logged-in console user (staff or admin), CSRF-checked on unsafe methods."""
    session = await current_session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target, api=_is_api(request))
    await check_csrf(request, session)
    request.state.console_session = session
    return session


async def require_admin(
    session: Annotated[ConsoleSession, Depends(require_staff)],
) -> ConsoleSession:
    if not session.is_admin:
        raise NotAllowed("这个页面只有管理员可以使用")
    return session


StaffSession = Annotated[ConsoleSession, Depends(require_staff)]
AdminSession = Annotated[ConsoleSession, Depends(require_admin)]


def login_redirect_url(next_url: str) -> str:
    return "/console/login?next=" + quote(safe_next(next_url), safe="")


class LoginRateLimiter:
    """Failed logins per username and per client address in a fixed window; above the
    limit, logins are refused without checking the password."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        per_user: int = 5,
        per_ip: int = 20,
        window: float = 15 * 60.0,
    ) -> None:
        self._store = store
        self.per_user = per_user
        self.per_ip = per_ip
        self.window = window

    @staticmethod
    def _keys(username: str, ip: str) -> tuple[str, str]:
        return f"console:login-fail:user:{username.lower()}", f"console:login-fail:ip:{ip}"

    async def blocked(self, username: str, ip: str) -> bool:
        user_key, ip_key = self._keys(username, ip)
        user_count = int(await self._store.get(user_key) or 0)
        ip_count = int(await self._store.get(ip_key) or 0)
        return user_count >= self.per_user or ip_count >= self.per_ip

    async def failed(self, username: str, ip: str) -> None:
        for key in self._keys(username, ip):
            await self._store.incr(key, ttl=self.window)

    async def succeeded(self, username: str, ip: str) -> None:
        await self._store.delete(self._keys(username, ip)[0])


#: No inline script or style anywhere in the console: an injected ``<script>`` cannot run.
#: No image from anywhere else either: a remote image tells its owner who looked, from where
#: and when (residents' photos come through ``/console/tickets/{id}/photos/{n}``).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)


_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class ConsoleHeadersMiddleware:
    """Security headers on the console's and simulator's responses (plain ASGI, so the
    ``/wechat`` hot path pays one string comparison)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/console", "/simulator")):
            await self.app(scope, receive, send)
            return
        no_store = not scope["path"].startswith("/console/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    headers.setdefault(name.decode(), value.decode())
                if no_store:
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
