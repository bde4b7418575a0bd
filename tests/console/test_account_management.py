"""Managing accounts over real HTTP and with ``intake user`` (issue 13): disabled accounts
and changed roles reach open sessions at once (also across processes on Redis), a reset code
works once and expires, weak passwords are refused in Chinese, every action is audited."""

from __future__ import annotations

import asyncio
import re
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text

from bot.cli import main
from integrations.accounts import UserStore
from integrations.db import create_engine
from tests.bot.wechat_harness import RunningApp, running_app
from tests.conftest import REDIS_TEST_URL, require_server
from tests.console.harness import (
    ADMIN,
    STAFF,
    audit_entries,
    create_accounts,
    csrf_token,
    database_url,
    login,
    login_attempt,
    login_form_token,
    run_sync,
)

_CODE = re.compile(r'id="reset-code" value="([A-Z0-9-]+)"')


def user_id(db_url: str, username: str) -> int:
    async def find() -> int:
        engine = create_engine(db_url)
        try:
            user = await UserStore(engine).by_username(username)
            assert user is not None
            return user.id
        finally:
            await engine.dispose()

    return run_sync(find())


def act(
    admin: httpx.Client, db_url: str, username: str, action: str, **form: str
) -> httpx.Response:
    """An admin's action on the accounts page (with the session's CSRF token)."""
    target = user_id(db_url, username)
    data = {"csrf_token": csrf_token(admin, "/console/admin/accounts"), **form}
    return admin.post(f"/console/admin/accounts/{target}/{action}", data=data)


def set_password_with(
    client: httpx.Client, code: str, password: str, repeat: str = ""
) -> httpx.Response:
    token = login_form_token(client, "/console/reset")
    return client.post(
        "/console/reset",
        data={
            "code": code,
            "password": password,
            "password2": repeat or password,
            "csrf_token": token,
        },
    )


def test_admins_see_every_account(console_app: RunningApp, admin: httpx.Client) -> None:
    page = admin.get("/console/admin/accounts")
    assert page.status_code == 200
    assert STAFF[0] in page.text and ADMIN[0] in page.text
    assert "（你自己）" in page.text
    assert 'href="/console/admin/accounts"' in admin.get("/console/inbox").text


def test_a_disabled_accounts_open_session_is_refused_at_once(
    console_app: RunningApp, admin: httpx.Client, staff: httpx.Client, tmp_path: Path
) -> None:
    db_url = database_url(tmp_path)
    assert staff.get("/console/inbox").status_code == 200
    assert staff.get("/console/api/handoffs/1/messages").status_code == 404  # logged in
    response = act(admin, db_url, STAFF[0], "disable")
    assert response.status_code == 303
    assert "已停用账号" in admin.get(response.headers["location"]).text
    # The very next request of the open session is refused, pages and API alike.
    assert staff.get("/console/inbox").status_code == 303
    assert staff.get("/console/api/handoffs/1/messages").status_code == 401
    with httpx.Client(base_url=console_app.url, timeout=30) as again:
        refused = login_attempt(again, *STAFF)
        assert refused.status_code == 403 and "已停用" in refused.text
    # Enabled again: a new login works, the old session stays ended.
    assert act(admin, db_url, STAFF[0], "enable").status_code == 303
    with closing(login(console_app.url, *STAFF)) as fresh:
        assert fresh.get("/console/inbox").status_code == 200
    assert staff.get("/console/inbox").status_code == 303
    actions = [(e.actor, e.action, e.target) for e in audit_entries(db_url, "account.")]
    assert actions == [
        (ADMIN[0], "account.enable", f"user:{STAFF[0]}"),
        (ADMIN[0], "account.disable", f"user:{STAFF[0]}"),
    ]


def test_a_role_change_applies_to_the_open_session_at_once(
    console_app: RunningApp, admin: httpx.Client, staff: httpx.Client, tmp_path: Path
) -> None:
    db_url = database_url(tmp_path)
    assert staff.get("/console/admin/audit").status_code == 403
    assert act(admin, db_url, STAFF[0], "role", role="admin").status_code == 303
    page = staff.get("/console/admin/audit")
    assert page.status_code == 200 and "（管理员）" in page.text
    assert act(admin, db_url, STAFF[0], "role", role="staff").status_code == 303
    assert staff.get("/console/admin/audit").status_code == 403
    details = [e.detail for e in audit_entries(db_url, "account.role")]
    assert details == ["管理员 → 工作人员", "工作人员 → 管理员"]


def test_admins_cannot_lock_themselves_out(admin: httpx.Client, tmp_path: Path) -> None:
    db_url = database_url(tmp_path)
    for action, form, message in (
        ("disable", {}, "不能停用自己"),
        ("role", {"role": "staff"}, "不能修改自己的角色"),
        ("reset", {}, "不能在这里重置自己的密码"),
    ):
        response = act(admin, db_url, ADMIN[0], action, **form)
        assert response.status_code == 400 and message in response.text
    assert admin.get("/console/admin/accounts").status_code == 200


def test_a_reset_code_sets_a_new_password_once(
    console_app: RunningApp, admin: httpx.Client, staff: httpx.Client, tmp_path: Path
) -> None:
    db_url = database_url(tmp_path)
    page = act(admin, db_url, STAFF[0], "reset")
    assert page.status_code == 200 and "只显示这一次" in page.text
    match = _CODE.search(page.text)
    assert match
    code = match.group(1)
    assert f"/console/reset#{code}" in page.text  # the link: the code in the #fragment
    # The old password and the open session end at once.
    assert staff.get("/console/inbox").status_code == 303
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        assert login_attempt(client, *STAFF).status_code == 401
        weak = set_password_with(client, code, "1234567890")
        assert weak.status_code == 400 and "请换一个" in weak.text
        mismatch = set_password_with(client, code, "Lantern-harbor-42", "Lantern-harbor-43")
        assert mismatch.status_code == 400 and "不一致" in mismatch.text
        # Typed by hand: any case, spaces instead of dashes.
        done = set_password_with(client, code.lower().replace("-", " "), "Lantern-harbor-42")
        assert done.status_code == 303
        assert done.headers["location"] == "/console/login?reset=done"
        assert "新密码已设置" in client.get(done.headers["location"]).text
        again = set_password_with(client, code, "Another-river-77")
        assert again.status_code == 400 and "无效或已过期" in again.text
    with closing(login(console_app.url, STAFF[0], "Lantern-harbor-42")) as fresh:
        assert fresh.get("/console/inbox").status_code == 200
    entries = audit_entries(db_url)
    assert [(e.actor, e.action) for e in entries if e.action.startswith("account.")] == [
        (STAFF[0], "account.password_set"),
        (ADMIN[0], "account.reset"),
    ]
    assert not [e for e in entries if code in f"{e.actor} {e.target} {e.detail}"]


def test_a_reset_code_expires(console_app: RunningApp, admin: httpx.Client, tmp_path: Path) -> None:
    db_url = database_url(tmp_path)
    match = _CODE.search(act(admin, db_url, STAFF[0], "reset").text)
    assert match

    async def age_the_code() -> None:
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE users SET reset_expires_at = :past WHERE username = :name"),
                    {"past": "2020-01-01 00:00:00.000000", "name": STAFF[0]},
                )
        finally:
            await engine.dispose()

    run_sync(age_the_code())
    with httpx.Client(base_url=console_app.url, timeout=30) as client:
        expired = set_password_with(client, match.group(1), "Lantern-harbor-42")
        assert expired.status_code == 400 and "已过期" in expired.text
        assert login_attempt(client, STAFF[0], "Lantern-harbor-42").status_code == 401


def test_changes_reach_sessions_served_by_another_process_at_once(tmp_path: Path) -> None:
    """Two app processes on one Redis and one database: an admin on one disables an
    account whose session is open on the other."""
    require_server("Redis", "127.0.0.1", 6379)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    db_url = database_url(tmp_path)
    create_accounts(db_url)
    shared = {"REDIS_URL": REDIS_TEST_URL, "DATABASE_URL": db_url}
    with (
        running_app(tmp_path / "a", **shared) as app_a,
        running_app(tmp_path / "b", **shared) as app_b,
        closing(login(app_a.url, *ADMIN)) as admin,
        closing(login(app_b.url, *STAFF)) as staff,
    ):
        assert staff.get("/console/admin/audit").status_code == 403
        assert act(admin, db_url, STAFF[0], "role", role="admin").status_code == 303
        assert staff.get("/console/admin/audit").status_code == 200
        assert act(admin, db_url, STAFF[0], "disable").status_code == 303
        assert staff.get("/console/inbox").status_code == 303


def test_cli_manages_accounts_and_reaches_open_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    db_url = database_url(tmp_path)
    create_accounts(db_url)
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    with (
        running_app(tmp_path, REDIS_URL=REDIS_TEST_URL) as app,
        closing(login(app.url, *STAFF)) as staff,
    ):
        assert main(["user", "role", STAFF[0], "admin"]) == 0
        assert staff.get("/console/admin/audit").status_code == 200
        assert main(["user", "disable", STAFF[0]]) == 0
        assert staff.get("/console/inbox").status_code == 303
        assert main(["user", "enable", STAFF[0]]) == 0
        capsys.readouterr()
        assert main(["user", "reset", STAFF[0]]) == 0
        printed = capsys.readouterr().out
        code = re.search(r"([A-Z0-9]{4}(?:-[A-Z0-9]{4}){4})", printed)
        assert code and f"/console/reset#{code.group(1)}" in printed
        with httpx.Client(base_url=app.url, timeout=30) as client:
            assert set_password_with(client, code.group(1), "Quiet-meadow-2718").status_code == 303
            assert login_attempt(client, STAFF[0], "Quiet-meadow-2718").status_code == 303
    assert main(["user", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"{STAFF[0]}\tadmin\tactive" in listing and f"{ADMIN[0]}\tadmin\tactive" in listing
    actors = {e.actor for e in audit_entries(db_url, "account.")} - {STAFF[0]}
    assert actors == {"命令行"}
    assert {e.action for e in audit_entries(db_url, "account.")} == {
        "account.role",
        "account.disable",
        "account.enable",
        "account.reset",
        "account.password_set",
    }


def test_cli_refuses_what_would_leave_no_admin_and_unknown_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_accounts(database_url(tmp_path))
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    assert main(["user", "role", ADMIN[0], "staff"]) == 1
    assert "至少要保留一位可用的管理员" in capsys.readouterr().err
    assert main(["user", "disable", ADMIN[0]]) == 1
    assert "至少要保留一位可用的管理员" in capsys.readouterr().err
    assert main(["user", "disable", "nobody"]) == 1
    assert "没有用户 nobody" in capsys.readouterr().err
    # With a second admin, the first can be demoted.
    assert main(["user", "role", STAFF[0], "admin"]) == 0
    assert main(["user", "role", ADMIN[0], "staff"]) == 0


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("abc12", "至少 10 位"),
        ("aaaaaaaaaaaa", "重复或连续"),
        ("1qaz2wsx3edc", "重复或连续"),
        ("woaini1314520", "太常见"),
        ("Password2024!", "太常见"),
        ("wang.xiaoming-88", "用户名"),
    ],
)
def test_cli_refuses_weak_passwords_with_a_reason(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    password: str,
    message: str,
) -> None:
    import io

    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert main(["user", "add", "wang.xiaoming", "--password-stdin"]) == 1
    assert message in capsys.readouterr().err


def test_concurrent_uses_of_one_code_set_one_password(tmp_path: Path) -> None:
    db_url = database_url(tmp_path)
    create_accounts(db_url)

    async def race() -> list[str]:
        engine = create_engine(db_url)
        try:
            users = UserStore(engine)
            _, code = await users.start_reset(STAFF[0])
            results = await asyncio.gather(
                *(users.finish_reset(code, f"Orchard-lamp-{i}7x") for i in range(4)),
                return_exceptions=True,
            )
            return ["ok" if not isinstance(r, BaseException) else str(r) for r in results]
        finally:
            await engine.dispose()

    outcomes = run_sync(race())
    assert outcomes.count("ok") == 1, outcomes
