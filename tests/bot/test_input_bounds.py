"""Issue 13: bounds on everything from outside, through the real app.

Absurd numbers and ids in ``/api`` and console URLs and forms get 422 naming the parameter
(they used to reach SQLite and come back as 500); an over-long openid is refused at the
WeChat callback with 400 and nothing about it is stored; an over-long message is answered
politely and not stored; the SQLite file and a new data directory are owner-only.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from bot.wechat.limits import MAX_FIELD_CHARS
from policies.messages import MESSAGE_TOO_LONG
from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import ADMIN, create_accounts, csrf_token, database_url, login
from tests.support.redis_keys import empty_redis, stored_in_redis

HUGE = str(10**30)
LONG_ID = "x" * 10_000


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the many parametrised requests below (they change nothing)."""
    tmp = tmp_path_factory.mktemp("bounds")
    create_accounts(database_url(tmp))
    with running_app(tmp) as running:
        yield running


@pytest.fixture(scope="module")
def api(app: RunningApp) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {app.settings.server.admin_token}"}
    with httpx.Client(base_url=app.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin(app: RunningApp) -> Iterator[httpx.Client]:
    with closing(login(app.url, *ADMIN)) as client:
        yield client


# -- /api -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "name"),
    [
        ("GET", "/api/tickets", {"offset": HUGE}, "offset"),
        ("GET", "/api/tickets", {"offset": "-1"}, "offset"),
        ("GET", "/api/tickets", {"limit": HUGE}, "limit"),
        ("GET", "/api/tickets", {"limit": "0"}, "limit"),
        ("GET", "/api/tickets", {"openid": LONG_ID}, "openid"),
        ("GET", f"/api/tickets/{LONG_ID}", {}, "ticket_id"),
        ("POST", f"/api/tickets/{LONG_ID}/status", {}, "ticket_id"),
        ("GET", "/api/outbox", {"offset": HUGE}, "offset"),
        ("GET", "/api/outbox", {"limit": HUGE}, "limit"),
        ("POST", f"/api/outbox/{HUGE}/retry", {}, "job_id"),
        ("POST", "/api/outbox/-5/retry", {}, "job_id"),
        ("GET", "/api/pushes", {"offset": HUGE}, "offset"),
        ("POST", f"/api/pushes/{HUGE}/retry", {}, "job_id"),
        ("GET", "/api/handoffs", {"limit": HUGE}, "limit"),
        ("GET", "/api/handoffs", {"status": "everything"}, "status"),
        ("GET", f"/api/handoffs/{HUGE}", {}, "handoff_id"),
        ("POST", f"/api/handoffs/{HUGE}/messages", {}, "handoff_id"),
        ("POST", f"/api/handoffs/{HUGE}/close", {}, "handoff_id"),
    ],
)
def test_api_refuses_absurd_numbers_and_ids_with_422(
    api: httpx.Client, method: str, path: str, params: dict[str, str], name: str
) -> None:
    response = api.request(method, path, params=params, json={"status": "dispatched"})
    assert response.status_code == 422, response.text
    assert name in [error["loc"][-1] for error in response.json()["detail"]]


def test_api_still_pages_within_the_bounds(api: httpx.Client) -> None:
    listed = api.get("/api/tickets", params={"offset": 100_000_000, "limit": 500})
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert api.get("/api/handoffs/9223372036854775807").status_code == 404


# -- the console ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "data", "label"),
    [
        ("GET", f"/console/inbox/{HUGE}", None, "会话编号"),
        ("GET", "/console/inbox/0", None, "会话编号"),
        ("POST", f"/console/inbox/{HUGE}/take", {}, "会话编号"),
        ("POST", f"/console/inbox/{HUGE}/close", {}, "会话编号"),
        ("POST", f"/console/inbox/{HUGE}/reply", {"text": "您好"}, "会话编号"),
        ("GET", f"/console/tickets?page={HUGE}", None, "页码"),
        ("GET", "/console/tickets?page=x", None, "页码"),
        ("GET", f"/console/tickets/{LONG_ID[:100]}", None, "工单号"),
        ("GET", f"/console/tickets/{LONG_ID[:100]}/photos/0", None, "工单号"),
        ("POST", f"/console/tickets/{LONG_ID[:100]}/status", {"status": "dispatched"}, "工单号"),
        (
            "POST",
            "/console/admin/intents/greet",
            {"action": "delete", "example_id": HUGE},
            "例句编号",
        ),
        ("POST", "/console/admin/review", {"action": "dismiss", "item": HUGE}, "待标注消息的编号"),
    ],
)
def test_console_pages_refuse_absurd_numbers_with_a_422_page(
    admin: httpx.Client, method: str, path: str, data: dict[str, str] | None, label: str
) -> None:
    headers = {"X-CSRF-Token": csrf_token(admin)} if method == "POST" else {}
    response = admin.request(method, path, data=data, headers=headers)
    assert response.status_code == 422, response.text
    assert "text/html" in response.headers["content-type"]
    assert f"{label}不对" in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/console/api/handoffs/{HUGE}/messages",
        f"/console/api/handoffs/1/messages?after={HUGE}",
        "/console/api/handoffs/1/messages?after=-1",
        f"/simulator/api/pushes?openid=sim-abcdefgh12&after={HUGE}",
    ],
)
def test_console_json_refuses_absurd_numbers_with_422(admin: httpx.Client, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 422, response.text
    assert "不对" in response.json()["error"]


def test_anonymous_visitors_still_go_to_the_login_first(app: RunningApp) -> None:
    with httpx.Client(base_url=app.url, timeout=30) as anonymous:
        page = anonymous.get(f"/console/inbox/{HUGE}")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login")


# -- the WeChat callback --------------------------------------------------------------------


def _rows_about(db: Path, openid: str) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table} WHERE openid = ?", (openid,))
            .fetchone()[0]
            for table in ("residents", "handoffs", "review_items", "tickets")
        }


def test_an_over_long_openid_is_refused_and_nothing_is_stored(
    tmp_path: Path, redis_url: str
) -> None:
    long_openid = "o" + "x" * 10_000
    with running_app(tmp_path, REDIS_URL=empty_redis(redis_url)) as app:
        refused = app.post(app.signer.text(long_openid, "转人工"))
        assert refused.status_code == 400
        assert "FromUserName longer than 64 characters" in refused.text
        # The same message from a real openid is handled (and leaves its traces).
        assert "人工" in (app.reply(app.post(app.signer.text("o-normal-1", "转人工"))) or "")
        # Not one key in the state store mentions the refused openid.
        keys = list(stored_in_redis(redis_url))
        assert not [key for key in keys if long_openid in key]
        assert [key for key in keys if "o-normal-1" in key]
    db = tmp_path / "intake.db"
    assert _rows_about(db, long_openid) == dict.fromkeys(_rows_about(db, long_openid), 0)
    assert _rows_about(db, "o-normal-1")["handoffs"] == 1
    assert _rows_about(db, "o-normal-1")["residents"] == 1


@pytest.mark.parametrize(
    "openid", ["o-has space", "o-控制", "o-\u202eevil", ""], ids=["space", "cjk", "bidi", "empty"]
)
def test_openids_that_are_not_wechat_ids_are_refused(tmp_path: Path, openid: str) -> None:
    with running_app(tmp_path) as app:
        assert app.post(app.signer.text(openid, "你好")).status_code == 400


def test_an_over_long_message_is_answered_politely_and_not_stored(
    tmp_path: Path, redis_url: str
) -> None:
    openid = "o-long-message"
    with running_app(tmp_path, REDIS_URL=empty_redis(redis_url)) as app:
        text = "小区门口的路灯坏了三天了。" * 400  # 5,200 characters
        assert len(text) > MAX_FIELD_CHARS
        reply = app.reply(app.post(app.signer.text(openid, text)))
        assert reply == MESSAGE_TOO_LONG
        keys = list(stored_in_redis(redis_url))
        assert not [key for key in keys if openid in key]
        # A message at the limit is an ordinary message.
        at_limit = "路灯坏了" + "。" * (MAX_FIELD_CHARS - 4)
        assert app.reply(app.post(app.signer.text(openid, at_limit))) != MESSAGE_TOO_LONG


# -- files ----------------------------------------------------------------------------------


def test_the_sqlite_file_and_a_new_data_directory_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    with running_app(data) as app:
        assert app.reply(app.post(app.signer.text("o-files-1", "你好")))
        files = sorted(data.glob("intake.db*"))
        assert [f.name for f in files][:1] == ["intake.db"]
        for path in files:  # the database and its -wal / -shm files
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
