"""PostgreSQL refusing connections for a while (through a proxy the test cuts): residents
are still answered, a complaint confirmed meanwhile gets a holding reply, and once the
database is back it is filed exactly once and its number pushed to the resident."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.bot.wechat_harness import RunningApp, running_app
from tests.conftest import POSTGRES_TEST_URL
from tests.support.postgres import own_schema
from tests.support.redis_keys import empty_redis, stored_in_redis
from tests.support.tcp_proxy import TCPProxy, tcp_proxy


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with own_schema("intake_outage") as schema:
        yield schema


def _tickets_of(schema: str, openid: str) -> list[str]:
    with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT id FROM "{schema}".tickets WHERE openid = %s', (openid,)
        ).fetchall()
    return [row[0] for row in rows]


def _say(app: RunningApp, openid: str, text: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = app.reply(app.post(app.signer.text(openid, text)))
    return reply or "", time.monotonic() - started


@pytest.fixture
def outage_app(
    tmp_path: Path, pg_schema: str, redis_url: str
) -> Iterator[tuple[RunningApp, TCPProxy]]:
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        url = (
            f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
            f"?options={quote(f'-csearch_path={pg_schema}')}"
        )
        with running_app(tmp_path, DATABASE_URL=url, REDIS_URL=empty_redis(redis_url)) as app:
            yield app, proxy


def test_complaint_during_an_outage_is_filed_once_the_database_is_back(
    outage_app: tuple[RunningApp, TCPProxy], pg_schema: str, redis_url: str
) -> None:
    app, proxy = outage_app
    openid = "o-outage-1"
    _say(app, openid, "路灯坏了")
    _say(app, openid, "幸福小区3号楼东门")
    assert "请核对" in _say(app, openid, "13812345678")[0]

    proxy.cut()
    holding, took = _say(app, openid, "确认")
    assert "稍后" in holding and "工单号：" not in holding, holding
    assert took < 5.0
    # While it waits in the state store its phone number is sealed (issue 13).
    kept = stored_in_redis(redis_url)
    waiting = [value for key, value in kept.items() if "deferred" in key]
    assert any(b"sealed:v1:" in value for value in waiting)
    assert not any(b"13812345678" in value for value in waiting)
    # Others are still served while the database is away.
    faq, took = _say(app, "o-outage-2", "医保电子凭证怎么激活")
    assert "医保" in faq and took < 5.0
    assert "稍后" in _say(app, "o-outage-3", "我的工单办得怎么样了")[0]
    time.sleep(3)  # a few rounds of the filer meet the outage

    proxy.restore()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _tickets_of(pg_schema, openid):
        time.sleep(0.2)
    [ticket_id] = _tickets_of(pg_schema, openid)
    with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as conn:
        [(phone,)] = conn.execute(
            f'SELECT phone FROM "{pg_schema}".tickets WHERE id = %s', (ticket_id,)
        ).fetchall()
    assert phone == "13812345678"  # opened again for the ticket
    # The ticket number reaches the resident; the 已派单 push may come before or after it.
    deadline = time.monotonic() + 10
    notices: list[str] = []
    while time.monotonic() < deadline and not notices:
        notices = [
            call.json["text"]["content"]
            for call in app.fake.custom_messages
            if call.json["touser"] == openid
            and ticket_id in call.json["text"]["content"]
            and "您之前反映的问题已登记" in call.json["text"]["content"]
        ]
        time.sleep(0.1)
    assert len(notices) == 1, notices

    # Later rounds of the filer file nothing more.
    time.sleep(2.5)
    assert _tickets_of(pg_schema, openid) == [ticket_id]
    status = _say(app, openid, "我的工单办得怎么样了")[0]
    assert ticket_id in status
