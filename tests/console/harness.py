"""Console test helpers: accounts, logged-in HTTP clients, CSRF tokens off pages."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

from integrations.accounts import AuditEntry, AuditLog
from integrations.accounts.bootstrap import add_user
from integrations.db import create_engine
from nlu.parser import NLUService
from tests.bot.wechat_harness import shared_model_dir

T = TypeVar("T")

STAFF = ("zhang.staff", "staff-password-123")
ADMIN = ("li.admin", "admin-password-123")

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop in another thread (Playwright's sync API
    keeps an event loop in the test's thread, where ``asyncio.run`` is refused)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def create_accounts(database_url: str) -> None:
    """The staff and admin accounts the console tests log in with."""
    for (username, password), role in ((STAFF, "staff"), (ADMIN, "admin")):
        run_sync(add_user(database_url, username, role=role, password=password, display_name=None))


def database_url(tmp: Path) -> str:
    return f"sqlite:///{(tmp / 'intake.db').as_posix()}"


def login(
    base_url: str, username: str, password: str, *, address: str | None = None
) -> httpx.Client:
    """A client with a console session (raises if the login did not succeed). ``address``:
    the client's address as a proxy reports it (X-Forwarded-For on every request)."""
    headers = {"X-Forwarded-For": address} if address else None
    client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False, headers=headers)
    response = login_attempt(client, username, password)
    assert response.status_code == 303, response.text
    return client


def login_form_token(client: httpx.Client, path: str = "/console/login") -> str:
    """The double-submit CSRF token of the login (or reset) form; sets its cookie too."""
    page = client.get(path)
    token = _LOGIN_CSRF.search(page.text)
    assert token, page.text
    return token.group(1)


def login_attempt(
    client: httpx.Client, username: str, password: str, *, address: str | None = None
) -> httpx.Response:
    """One login through the form; ``address`` as in :func:`login`."""
    headers = {"X-Forwarded-For": address} if address else None
    page = client.get("/console/login", headers=headers)
    token = _LOGIN_CSRF.search(page.text)
    assert token, page.text
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        headers=headers,
    )


def audit_entries(database_url: str, action: str | None = None) -> list[AuditEntry]:
    """The audit log as stored (newest first), read with an engine of the test's own."""

    async def read() -> list[AuditEntry]:
        engine = create_engine(database_url)
        try:
            return await AuditLog(engine).recent(limit=1000, action=action)
        finally:
            await engine.dispose()

    return run_sync(read())


def own_model(tmp: Path) -> NLUService:
    """A copy of the shared test model for a test that retrains or publishes (the shared
    one must stay as it is for every other test)."""
    models = tmp / "models"
    shutil.copytree(shared_model_dir(), models)
    return NLUService(models, train_if_missing=False)


def csrf_token(client: httpx.Client, path: str = "/console/inbox") -> str:
    """The session's CSRF token, as a page carries it."""
    page = client.get(path)
    match = _CSRF_META.search(page.text)
    assert match and match.group(1), page.text
    return match.group(1)
