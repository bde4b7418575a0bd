"""Accounts: argon2 hashes, `intake user add`, the demo admin of the development run."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from integrations.accounts import AccountError, LoginOutcome, UserStore
from integrations.accounts.bootstrap import add_user, ensure_demo_admin
from integrations.db import create_engine
from integrations.db.models import UserRow
from tests.console.harness import database_url


async def _stored_hash(url: str, username: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(UserRow).where(UserRow.username == username))).one()
            return str(row.password_hash)
    finally:
        await engine.dispose()


async def _authenticate(url: str, username: str, password: str) -> str | None:
    engine = create_engine(url)
    try:
        check = await UserStore(engine).check_login(username, password)
        return check.user.role if check.outcome is LoginOutcome.OK and check.user else None
    finally:
        await engine.dispose()


def test_passwords_are_stored_as_argon2id_hashes_only(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    asyncio.run(add_user(url, "wang", role="staff", password="correct-horse-1", display_name="王"))
    stored = asyncio.run(_stored_hash(url, "wang"))
    assert stored.startswith("$argon2id$") and "correct-horse-1" not in stored
    assert asyncio.run(_authenticate(url, "wang", "correct-horse-1")) == "staff"
    assert asyncio.run(_authenticate(url, "wang", "correct-horse-2")) is None
    assert asyncio.run(_authenticate(url, "nobody", "correct-horse-1")) is None


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("wang", "short", "staff", "至少"),
        ("bad name!", "long-enough-pw", "staff", "用户名"),
        ("wang2", "long-enough-pw", "root", "角色"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(
    tmp_path: Path, username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        asyncio.run(
            add_user(
                database_url(tmp_path), username, role=role, password=password, display_name=None
            )
        )


def test_cli_user_add_generates_a_password_and_refuses_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    assert main(["user", "add", "liu", "--role", "admin", "--name", "刘主任"]) == 0
    out = capsys.readouterr().out
    assert "created admin liu" in out
    password = out.split("password: ")[1].strip()
    assert asyncio.run(_authenticate(database_url(tmp_path), "liu", password)) == "admin"
    assert main(["user", "add", "liu"]) == 1
    assert "已存在" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO("typed-password-1\n"))
    assert main(["user", "add", "chen", "--password-stdin"]) == 0
    assert "typed-password-1" not in capsys.readouterr().out
    assert asyncio.run(_authenticate(database_url(tmp_path), "chen", "typed-password-1")) == "staff"


def test_demo_admin_is_created_once_with_a_printed_password(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    password = asyncio.run(ensure_demo_admin(url))
    assert password and len(password) >= 12
    assert asyncio.run(_authenticate(url, "admin", password)) == "admin"
    assert asyncio.run(ensure_demo_admin(url)) is None


def test_processes_starting_together_create_one_demo_admin(tmp_path: Path) -> None:
    url = database_url(tmp_path)

    async def together() -> list[str | None]:
        return list(await asyncio.gather(*(ensure_demo_admin(url) for _ in range(3))))

    passwords = asyncio.run(together())
    printed = [p for p in passwords if p]
    assert len(printed) == 1
    assert asyncio.run(_authenticate(url, "admin", printed[0])) == "admin"
