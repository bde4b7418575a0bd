"""Console access control: who is logged in, roles, CSRF, the client's address, headers.

Pages answer an anonymous visitor with a redirect to the login page; the JSON endpoints
under ``/console/api`` answer 401. Staff reaching an admin page get 403. Every request
checks its session against the account (one cached lookup): a disabled account or a
changed password ends the session at once, a changed role applies at once. Every unsafe
request (POST and friends) must carry the session's CSRF token, as the ``csrf_token``
form field or the ``X-CSRF-Token`` header, and, when the browser sends an ``Origin``, come
from this site.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import IPNetwork
from integrations.accounts import AccountStates, ConsoleSession, SessionStore

__all__ = [
    "SESSION_COOKIE",
    "AdminSession",
    "ConsoleHeadersMiddleware",
    "LoginRequired",
    "NotAllowed",
    "StaffSession",
    "check_csrf",
    "client_address",
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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_address(value: str) -> IPAddress | None:
    """An address from an X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``
    or ``::1``), or ``None`` when it is none."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """The client's address: ``peer`` (the TCP peer), unless it is a trusted proxy; then the
    X-Forwarded-For chain is walked from the right (each proxy appends the address it saw),
    skipping trusted proxies, and the first other address is the client. Entries left of it
    were written by the client and are never believed."""

    def is_trusted(address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in trusted)

    if not trusted or not is_trusted(_parse_address(peer)):
        return peer
    client = peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:  # garbage from the client's side of the chain: stop here
            break
        client = str(address)
        if not is_trusted(address):
            break
    return client


def client_ip(request: Request) -> str:
    """The client's address as :func:`client_address` finds it, with the proxies trusted by
    ``INTAKE_TRUSTED_PROXIES``. The app is served with uvicorn's own proxy handling off, so
    ``request.client`` is the real TCP peer."""
    peer = request.client.host if request.client else "-"
    settings = getattr(request.app.state, "settings", None)
    trusted = settings.server.trusted_proxy_networks if settings is not None else ()
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


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
    """The request's session, checked against its account: ``None`` (and the session ended)
    when the account is gone, disabled, or its sessions were ended since this one began; the
    account's current role and name otherwise."""
    sessions: SessionStore = request.app.state.console.sessions
    states: AccountStates = request.app.state.console.account_states
    token = request.cookies.get(SESSION_COOKIE)
    session = await sessions.get(token)
    if session is None:
        return None
    account = await states.get(session.user_id)
    if account is None or not account.active or account.session_epoch != session.session_epoch:
        await sessions.end(token)
        return None
    if (account.role, account.display_name) != (session.role, session.display_name):
        session = dataclasses.replace(session, role=account.role, display_name=account.display_name)
    return session


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
