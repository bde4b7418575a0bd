"""Fixtures of the console tests: a running app with a staff and an admin account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import ADMIN, STAFF, create_accounts, database_url, login


@pytest.fixture
def console_app(tmp_path: Path) -> Iterator[RunningApp]:
    create_accounts(database_url(tmp_path))
    with running_app(tmp_path) as app:
        yield app


@pytest.fixture
def staff(console_app: RunningApp) -> Iterator[httpx.Client]:
    with closing(login(console_app.url, *STAFF)) as client:
        yield client


@pytest.fixture
def admin(console_app: RunningApp) -> Iterator[httpx.Client]:
    with closing(login(console_app.url, *ADMIN)) as client:
        yield client
