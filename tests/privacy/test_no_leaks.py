"""Issue 13, end to end: an ID number in every spelling and a phone number in every spelling
go through every path — signed ``/wechat`` → dispatcher → NLU → policy → storage, on real
Redis — and afterwards the captured log, every table of the database, every Redis key and
value, and every API and console response are scanned. The ID number is nowhere whole; the
phone number is whole only in ``tickets.phone`` and in the audited reveals.

Paths, each taken once per ID spelling (the phone spellings taking turns):

* a complete report (ticket filed: description, chat, timeline, outbox, pushes);
* a half-filled report (the dialogue state left in Redis, waiting for 确认);
* a message not understood (the review queue);
* a talk with a person (handoff transcript, a resident line during the handoff, a staff
  reply from the console inbox and one through ``/api/handoffs``).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot.logs import configure_logging
from integrations.training.review import ReviewQueue
from privacy import SEALED_PREFIX
from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import ADMIN, STAFF, create_accounts, csrf_token, database_url, login
from tests.privacy.spellings import (
    ID_18X,
    ID_SPELLINGS,
    MASKED_PHONE,
    MISTYPED,
    PHONE,
    PHONE_SPELLINGS,
    canonical,
)

pytestmark = pytest.mark.usefixtures("restore_logging")

WHOLE_IDS = (canonical(ID_18X), canonical(MISTYPED))
WHOLE_PHONE = canonical(PHONE)


def leaks(text: str, *, phone_allowed: bool = False) -> list[str]:
    """What of the ID numbers and the phone number ``text`` holds whole, in any spelling."""
    flat = canonical(text)
    found = [number for number in WHOLE_IDS if number in flat]
    # the birth date and sequence, the part a masked ID hides
    found += [n[6:14] for n in WHOLE_IDS if n[6:14] + n[14:17] in flat]
    if not phone_allowed and WHOLE_PHONE in flat:
        found.append(WHOLE_PHONE)
    return found


class Trail:
    """Every response the test received, by where it came from."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    def add(self, where: str, text: str | None, *, phone_allowed: bool = False) -> str:
        self.seen.append((where, text or "", phone_allowed))
        return text or ""

    def get(self, client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
        response = client.get(path, **kwargs)
        assert response.status_code == 200, (path, response.text[:300])
        self.add(f"GET {path}", response.text)
        return response


def _spellings() -> Iterator[tuple[str, str, str]]:
    phones = itertools.cycle(PHONE_SPELLINGS.values())
    for name, spelled in ID_SPELLINGS.items():
        yield name, spelled, next(phones)


@pytest.fixture
def app(tmp_path: Path, redis_url: str) -> Iterator[RunningApp]:
    redis.Redis.from_url(redis_url).flushdb()
    create_accounts(database_url(tmp_path))
    with running_app(tmp_path, REDIS_URL=redis_url) as running:
        yield running
    redis.Redis.from_url(redis_url).flushdb()


def test_no_id_or_phone_number_leaks_on_any_path(app: RunningApp, redis_url: str) -> None:
    logs = io.StringIO()
    configure_logging("DEBUG", stream=logs)  # after uvicorn started: its loggers too
    trail = Trail()
    api = httpx.Client(
        base_url=app.url,
        headers={"Authorization": f"Bearer {app.settings.server.admin_token}"},
        timeout=30,
    )
    staff, admin = login(app.url, *STAFF), login(app.url, *ADMIN)

    def say(openid: str, text: str) -> str:
        reply = app.reply(app.post(app.signer.text(openid, text)))
        return trail.add(f"/wechat {openid} ← {text}", reply)

    # -- the paths -------------------------------------------------------------------------
    reports, halves, handoff_openids = [], [], []
    for k, (name, id_number, phone) in enumerate(_spellings()):
        openid = f"o-report-{k:02d}"
        say(openid, f"小区门口的路灯坏了好几天了，我的身份证号{id_number}，电话{phone}")
        assert "请核对" in say(openid, "幸福小区3号楼东门"), name
        assert "工单号" in say(openid, "确认"), name
        reports.append(openid)

        openid = f"o-half-{k:02d}"
        say(openid, f"路灯坏了，身份证{id_number}")
        say(openid, "幸福小区3号楼东门")
        summary = say(openid, phone)
        assert "请核对" in summary and MASKED_PHONE in summary, (name, summary)
        halves.append(openid)

        say(f"o-review-{k:02d}", f"{id_number} 嗯嗯 {phone} 啊啊那个")

        openid = f"o-handoff-{k:02d}"
        say(openid, f"我的身份证号是{id_number}，电话{phone}，办低保要带什么材料")
        say(openid, "转人工")
        assert say(openid, f"我住幸福小区3号楼2单元502，身份证{id_number}，手机{phone}") == ""
        handoff_openids.append((openid, id_number, phone))

    # -- staff answer the chats, in the console and through the API -------------------------
    token = csrf_token(staff)
    handoff_ids = []
    for openid, id_number, phone in handoff_openids:
        listed = trail.get(api, "/api/handoffs", params={"openid": openid}).json()["items"]
        [handoff] = listed
        handoff_ids.append(handoff["id"])
        echoed = staff.post(
            f"/console/api/handoffs/{handoff['id']}/reply",
            json={"text": f"收到，您的身份证{id_number}和电话{phone}已记下"},
            headers={"X-CSRF-Token": token},
        )
        assert echoed.status_code == 200, echoed.text
        trail.add("console reply", echoed.text)
        sent = api.post(
            f"/api/handoffs/{handoff['id']}/messages",
            json={"text": f"再确认一下：{id_number}，{phone}"},
        )
        assert sent.status_code == 200, sent.text
        trail.add("api reply", sent.text)

    # The review queue is written in batches, off the reply path.
    deadline = time.monotonic() + 10
    while not asyncio.run(_review_items(app)):
        assert time.monotonic() < deadline, "nothing reached the review queue"
        time.sleep(0.1)

    # -- every page and API response that shows what was said -------------------------------
    trail.get(api, "/api/handoffs")
    for handoff_id in handoff_ids:
        trail.get(api, f"/api/handoffs/{handoff_id}")
        trail.get(staff, f"/console/inbox/{handoff_id}")
        trail.get(staff, f"/console/api/handoffs/{handoff_id}/messages")
        revealed = staff.post(
            f"/console/inbox/{handoff_id}/reveal", data={"csrf_token": token}
        )
        assert revealed.status_code == 200 and "已记入审计日志" in revealed.text
        # stored redacted: not even a reveal brings the numbers back; the address it does
        assert "幸福小区3号楼2单元502" in trail.add("inbox reveal", revealed.text)
    for tab in ("waiting", "mine", "closed"):
        trail.get(staff, "/console/inbox", params={"tab": tab})
    tickets = trail.get(api, "/api/tickets", params={"limit": 500}).json()["items"]
    assert {t["openid"] for t in tickets} == set(reports)
    trail.get(staff, "/console/tickets")
    for ticket in tickets:
        trail.get(api, f"/api/tickets/{ticket['id']}")
        trail.get(staff, f"/console/tickets/{ticket['id']}")
        contact = api.get(f"/api/tickets/{ticket['id']}/contact")
        assert contact.json()["phone"] == PHONE
        trail.add("api contact (audited)", contact.text, phone_allowed=True)
        shown = staff.post(f"/console/tickets/{ticket['id']}/reveal", data={"csrf_token": token})
        assert shown.status_code == 200
        # whole in the phone field only; the description and chat keep it masked
        assert shown.text.count(PHONE) == 1
        trail.add("ticket reveal (audited)", shown.text, phone_allowed=True)
    trail.get(api, "/api/pushes")
    trail.get(api, "/api/outbox")
    review = trail.get(admin, "/console/admin/review")
    assert "110105********103X" in review.text
    trail.get(admin, "/console/admin/audit")

    # -- the scan -----------------------------------------------------------------------------
    for where, text, phone_allowed in trail.seen:
        assert not leaks(text, phone_allowed=phone_allowed), (where, leaks(text), text[:500])

    database = _database_dump(app)
    for where, text in database:
        assert not leaks(text), (where, leaks(text), text[:500])
    phones = [text for where, text in _ticket_phones(app)]
    assert phones == [PHONE] * len(reports)

    keys = _redis_dump(redis_url)
    for key, value in keys.items():
        assert not leaks(key + value), (key, leaks(key + value), value[:500])
    states = {k: v for k, v in keys.items() if ":fsm:" in k}
    assert {k.rsplit(":", 1)[1] for k in states} >= set(halves)
    assert all(SEALED_PREFIX in states[k] for k in states if k.endswith(tuple(halves)))
    assert any(":dedup:" in k and k.endswith(":result") for k in keys)
    assert any(":chat:" in k for k in keys)

    output = logs.getvalue()
    assert "110105********103X" in output and MASKED_PHONE in output  # the lines are there
    assert not leaks(output), leaks(output)

    audited = _audit_actions(app)
    assert audited.count("ticket.reveal") == 2 * len(tickets)  # console and API
    assert audited.count("handoff.reveal") == len(handoff_ids)
    for client in (api, staff, admin):
        client.close()


async def _review_items(app: RunningApp) -> int:
    return len(await ReviewQueue(app.runtime.engine).list("open"))


def _database_dump(app: RunningApp) -> list[tuple[str, str]]:
    """Every row of every table as text, but ``tickets.phone``."""
    path = app.settings.effective_database_url.removeprefix("sqlite:///")
    rows: list[tuple[str, str]] = []
    with closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"tickets", "handoff_messages", "review_items", "ticket_events"} <= set(tables)
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                values = {c: v for c, v in zip(columns, row, strict=True)}
                if table == "tickets":
                    values.pop("phone")
                rows.append((table, repr(values)))
    return rows


def _ticket_phones(app: RunningApp) -> list[tuple[str, str]]:
    path = app.settings.effective_database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as db:
        return list(db.execute("SELECT id, phone FROM tickets ORDER BY id"))


def _audit_actions(app: RunningApp) -> list[str]:
    path = app.settings.effective_database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as db:
        return [r[0] for r in db.execute("SELECT action FROM audit_log")]


def _redis_dump(redis_url: str) -> dict[str, str]:
    """Every key of the test's Redis database with its value, whatever its type."""
    client = redis.Redis.from_url(redis_url)
    dump: dict[str, str] = {}
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        kind = client.type(raw).decode()
        if kind == "string":
            value: Any = client.get(raw)
        elif kind == "hash":
            value = client.hgetall(raw)
        elif kind == "list":
            value = client.lrange(raw, 0, -1)
        elif kind == "set":
            value = client.smembers(raw)
        elif kind == "zset":
            value = client.zrange(raw, 0, -1, withscores=True)
        else:
            value = kind
        dump[key] = _text(value)
    return dump


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return " ".join(f"{_text(k)}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return " ".join(_text(v) for v in value)
    return re.sub(r"\s+", " ", str(value))
