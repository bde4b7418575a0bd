"""Console access control over real HTTP: login required everywhere, roles, CSRF, session
fixation, login rate limiting, security headers, the audit trail of logins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from tests.bot.wechat_harness import RunningApp
from tests.console.harness import ADMIN, STAFF, csrf_token, login, login_attempt

#: Public on purpose: the login form itself, the form that sets a password with an admin's
#: one-time reset code, static files, and the resident simulator (anyone may chat as a
#: resident; it goes through the signed /wechat path like WeChat).
PUBLIC = (
    "/console/login",
    "/console/reset",
    "/console/static",
    "/simulator",
    "/api/docs",
    "/api/openapi",
)


def _all_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every route with its full path (FastAPI keeps included routers as nested objects)."""
    for route in routes:
        if isinstance(route, Route):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # an included APIRouter
            yield from _all_routes(
                route.original_router.routes, prefix + route.include_context.prefix
            )


def _protected_routes(app: RunningApp) -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for full_path, route in _all_routes(app.app.routes):
        if not full_path.startswith(("/console", "/api")) or full_path.startswith(PUBLIC):
            continue
        path = re.sub(r"\{[^}]+\}", "1", full_path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                routes.append((method, path))
    return routes


def test_no_console_page_or_api_answers_without_login(console_app: RunningApp) -> None:
    routes = _protected_routes(console_app)
    assert len(routes) > 10, routes
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        for method, path in routes:
            response = client.request(method, path)
            if path.startswith("/console/api/"):
                assert response.status_code == 401, (method, path, response.status_code)
            elif path.startswith("/console"):
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/console/login"), path
            else:  # the machine API under /api wants the bearer token
                assert response.status_code == 401, (method, path, response.status_code)


def test_login_redirect_keeps_the_target_but_never_leaves_the_console(
    console_app: RunningApp,
) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        response = client.get("/console/tickets?status=received")
        assert response.headers["location"] == (
            "/console/login?next=%2Fconsole%2Ftickets%3Fstatus%3Dreceived"
        )
        page = client.get("/console/login", params={"next": "https://evil.example/"})
        assert 'name="next" value="/console"' in page.text


def test_staff_cannot_reach_admin_pages(console_app: RunningApp, staff: httpx.Client) -> None:
    admin_paths = sorted(
        {
            p
            for m, p in _protected_routes(console_app)
            if m == "GET" and p.startswith("/console/admin")
        }
    )
    assert admin_paths
    for path in admin_paths:
        response = staff.get(path)
        assert response.status_code == 403, (path, response.status_code)
        assert "只有管理员" in response.text
    assert staff.get("/console/inbox").status_code == 200


def test_admin_reaches_admin_pages(admin: httpx.Client) -> None:
    response = admin.get("/console/admin/audit")
    assert response.status_code == 200
    assert "login" in response.text  # the admin's own login is in the audit log


def test_wrong_password_is_refused_and_audited(
    console_app: RunningApp, admin: httpx.Client
) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        response = login_attempt(client, STAFF[0], "not-the-password")
        assert response.status_code == 401
        assert "用户名或密码不对" in response.text
        assert "intake_console" not in client.cookies
    audit = admin.get("/console/admin/audit", params={"action": "login.failed"})
    assert STAFF[0] in audit.text


def test_login_is_rate_limited_per_username(console_app: RunningApp) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        for _ in range(5):
            assert login_attempt(client, STAFF[0], "wrong-password-x").status_code == 401
        blocked = login_attempt(client, STAFF[0], STAFF[1])
        assert blocked.status_code == 429
        assert "尝试次数过多" in blocked.text
        assert "intake_console" not in client.cookies
        # Another account is not locked out by someone guessing this one.
        assert login_attempt(client, ADMIN[0], ADMIN[1]).status_code == 303


def test_login_form_needs_its_csrf_cookie(console_app: RunningApp) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        response = client.post(
            "/console/login",
            data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": "forged"},
        )
        assert response.status_code == 403
        assert "intake_console" not in client.cookies


def test_session_fixation_a_planted_session_token_is_never_promoted(
    console_app: RunningApp,
) -> None:
    planted = "attacker-chosen-session-token"
    with httpx.Client(base_url=console_app.url, timeout=30) as victim:
        victim.cookies.set("intake_console", planted, domain="127.0.0.1")
        assert login_attempt(victim, STAFF[0], STAFF[1]).status_code == 303
        issued = victim.cookies.get("intake_console")
        assert issued and issued != planted
        assert victim.get("/console/inbox").status_code == 200
    with httpx.Client(base_url=console_app.url, timeout=30) as attacker:
        attacker.cookies.set("intake_console", planted, domain="127.0.0.1")
        assert attacker.get("/console/inbox").status_code == 303


def test_a_new_login_replaces_the_session_the_browser_had(console_app: RunningApp) -> None:
    client = login(console_app.url, *STAFF)
    first = client.cookies.get("intake_console")
    assert login_attempt(client, STAFF[0], STAFF[1]).status_code == 303
    second = client.cookies.get("intake_console")
    assert first != second
    with httpx.Client(base_url=console_app.url, timeout=30) as old:
        old.cookies.set("intake_console", first or "", domain="127.0.0.1")
        assert old.get("/console/inbox").status_code == 303
    client.close()


def test_unsafe_requests_need_the_sessions_csrf_token(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    # no token
    response = staff.post("/console/logout")
    assert response.status_code == 403
    assert "CSRF" in response.text
    # another session's token
    response = staff.post("/console/logout", data={"csrf_token": csrf_token(admin)})
    assert response.status_code == 403
    # right token, but sent from another site
    token = csrf_token(staff)
    response = staff.post(
        "/console/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    # still logged in after all that
    assert staff.get("/console/inbox").status_code == 200
    # the right token works, as a form field or as the header
    response = staff.post("/console/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert staff.get("/console/inbox").status_code == 303


def test_logout_ends_the_session_on_the_server(console_app: RunningApp) -> None:
    client = login(console_app.url, *ADMIN)
    token = client.cookies.get("intake_console")
    response = client.post("/console/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 303
    with httpx.Client(base_url=console_app.url, timeout=30) as replay:
        replay.cookies.set("intake_console", token or "", domain="127.0.0.1")
        assert replay.get("/console/inbox").status_code == 303
    client.close()


def test_session_cookie_and_pages_carry_protective_headers(console_app: RunningApp) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        response = login_attempt(client, ADMIN[0], ADMIN[1])
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        page = client.get("/console/inbox")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text  # scripts only from files, never inline


@pytest.mark.parametrize("next_url", ["//evil.example/x", "https://evil.example", "/\\evil"])
def test_login_never_redirects_off_site(console_app: RunningApp, next_url: str) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        page = client.get("/console/login", params={"next": next_url})
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert token
        response = client.post(
            "/console/login",
            data={
                "username": ADMIN[0],
                "password": ADMIN[1],
                "csrf_token": token.group(1),
                "next": next_url,
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/console"


def test_staff_cannot_change_what_admins_curate(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    """Every unsafe admin route refuses staff, even with a valid CSRF token."""
    admin_only = ("/console/admin", "/console/api/faq", "/console/api/model")
    posts = sorted(
        {p for m, p in _protected_routes(console_app) if m == "POST" and p.startswith(admin_only)}
    )
    assert len(posts) >= 5, posts
    token = csrf_token(staff)
    for path in posts:
        response = staff.post(path, headers={"X-CSRF-Token": token}, data={"action": "train"})
        assert response.status_code == 403, (path, response.status_code)
