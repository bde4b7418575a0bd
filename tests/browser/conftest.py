"""Browser tests: Playwright driving Debian's Chromium (headless) against a running app.

Chromium comes from Debian's package (``.ci/run`` installs it when missing); Playwright's
own browser download is never used. Outside CI a missing Chromium skips these tests with
the reason; in CI it fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import create_accounts, database_url

CHROMIUM = os.environ.get("INTAKE_CHROMIUM", "/usr/bin/chromium")
#: Flags for a closed network and a root user (as on CI): no sandbox, no background calls.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _require_chromium() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path:
        return path
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the browser tests")
    pytest.skip(message)


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, and the async tests that run after these would find it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[RunningApp]:
    create_accounts(database_url(tmp_path))
    with running_app(tmp_path) as app:
        yield app


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Through the login form, as a person would."""
    page.goto(base_url + "/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/inbox**")
