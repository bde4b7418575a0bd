"""The 12345 loop end to end (issue 17), through the signed /wechat callback, the console
and the API of a running app: a resident files a complaint; the department it went to
returns it (退单); the reviewer re-routes it (审定); the second department signs for it and
closes it (办结); the resident answers "没解决" and it reopens to that department. The
timeline shows every step in order, the disputed routing appears in the training review,
and the bounce counts name the department that returned it."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from integrations.db.engine import create_engine
from integrations.db.models import TicketRow
from integrations.tickets.sql import utcnow
from policies import messages as msg
from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import csrf_token
from tests.console.test_tickets_pages import (
    api,
    api_ticket,
    converse,
    dispatched,
    eventually,
    post_form,
)

OPENID = "oLoopResident000000000001"
_TICKET_ID = re.compile(r"工单号：(\d{8}-\d{4,})")


def _pushed(app: RunningApp, ticket_id: str, *words: str) -> bool:
    return any(
        ticket_id in str(call.json)
        and all(w in str(call.json) for w in words)
        for call in app.fake.delivered_to(OPENID)
    )


def _status_changes(ticket: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["from"], e["to"]) for e in ticket["history"] if e["from"] != e["to"]]


def test_return_review_close_and_not_solved_reopens(
    console_app: RunningApp, staff: httpx.Client, admin: httpx.Client
) -> None:
    app = console_app
    first, confirmed = converse(
        app, OPENID, "幸福小区3号楼门口的路灯坏了，晚上很黑，电话13812345678", "确认"
    )
    assert first and "确认" in first
    match = _TICKET_ID.search(confirmed or "")
    assert match, confirmed
    ticket_id = match.group(1)
    ticket = dispatched(app, ticket_id)
    assert ticket["department"] == "市政照明管理处"

    # The lighting office returns it: the lamp belongs to the estate.
    returned = post_form(
        staff, f"/console/tickets/{ticket_id}/return",
        {"note": "小区内自建路灯，不属于市政照明", "department": "住建局物业科"},
    )
    assert returned.status_code == 303
    queue = staff.get("/console/returns").text
    assert f'data-ticket="{ticket_id}"' in queue and "小区内自建路灯" in queue

    # The reviewer agrees and re-routes it to the property office.
    reviewed = post_form(
        staff, f"/console/tickets/{ticket_id}/review",
        {"decision": "reroute", "department": "住建局物业科",
         "category": "report.property_dispute", "note": "物业负责小区路灯"},
    )
    assert reviewed.status_code == 303
    eventually(lambda: _pushed(app, ticket_id, "已改由住建局物业科办理"), what="re-route push")
    rerouted = eventually(
        lambda: (t if (t := api_ticket(app, ticket_id))["delivery"]["generation"] == 2
                 and t["delivery"]["status"] == "delivered" else None),
        what="the second dispatch delivered",
    )
    assert rerouted["department"] == "住建局物业科" and rerouted["status"] == "dispatched"

    # The property office signs for it and closes it.
    for status, note in (("in_progress", "已联系物业"), ("resolved", "物业已更换灯具")):
        moved = post_form(
            staff, f"/console/tickets/{ticket_id}/status", {"status": status, "note": note}
        )
        assert moved.status_code == 303, moved.text
    eventually(lambda: _pushed(app, ticket_id, "已办结", "问题解决了吗"), what="办结 push")

    # The resident says it is not solved: it reopens to the property office, their words kept.
    [answer] = converse(app, OPENID, "没解决，晚上灯还是不亮")
    assert answer and "重新交给承办部门" in answer
    reopened = api_ticket(app, ticket_id)
    assert reopened["department"] == "住建局物业科" and reopened["level"] == "community"
    assert reopened["status"] in ("reopened", "dispatched")  # the worker delivers it again
    assert reopened["solved"] is False and reopened["delivery"]["generation"] == 3

    changes = _status_changes(reopened)
    assert changes[:7] == [
        (None, "received"),
        ("received", "dispatched"),
        ("dispatched", "returned"),
        ("returned", "dispatched"),
        ("dispatched", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "reopened"),
    ]
    notes = [e["note"] or "" for e in reopened["history"]]

    def index(words: str) -> int:
        return next(i for i, n in enumerate(notes) if words in n)

    steps = [
        index("市政照明管理处退单：小区内自建路灯，不属于市政照明（建议改派住建局物业科）"),
        index("审定：改派住建局物业科办理（原市政照明管理处）"),
        index("已联系物业"),
        index("物业已更换灯具"),
        index("群众反馈：问题没有解决（群众原话：晚上灯还是不亮）"),
    ]
    assert steps == sorted(steps)
    page = staff.get(f"/console/tickets/{ticket_id}").text
    assert "群众反馈：问题没有解决" in page and "未解决" in page

    # The disputed routing is a labelled example in the training review; bounce counts.
    review = admin.get("/console/admin/review").text
    assert f'class="routing-dispute" data-ticket="{ticket_id}"' in review
    assert "住建局物业科" in review
    # The category was corrected too: the text becomes an example of the right one.
    dispute = re.search(r'name="dispute" value="(\d+)"', review)
    assert dispute, review
    token = csrf_token(admin, "/console/admin/review")
    taught = admin.post(
        "/console/admin/review/disputes", data={"dispute": dispute.group(1), "csrf_token": token}
    )
    assert taught.status_code == 303
    assert "已把这条派单争议加入" in admin.get(taught.headers["location"]).text
    examples = admin.get("/console/admin/intents/report.property_dispute").text
    assert "晚上很黑" in examples
    bounces = staff.get("/console/returns").text
    assert re.search(
        r'data-department="市政照明管理处"><td>市政照明管理处</td><td>1</td><td>1</td>', bounces
    )


def test_solved_but_not_satisfied_goes_to_a_supervisor(
    console_app: RunningApp, staff: httpx.Client
) -> None:
    app = console_app
    _, confirmed = converse(app, OPENID, "人民路90号门口的路灯坏了，电话13812345678", "确认")
    match = _TICKET_ID.search(confirmed or "")
    assert match, confirmed
    ticket_id = match.group(1)
    dispatched(app, ticket_id)
    done = post_form(
        staff, f"/console/tickets/{ticket_id}/status", {"status": "resolved", "note": "已修复"}
    )
    assert done.status_code == 303

    [solved] = converse(app, OPENID, "已解决")
    assert solved and "满意吗" in solved
    [rated] = converse(app, OPENID, "不满意，拖了好几天")
    assert rated and "督办" in rated
    closed = api_ticket(app, ticket_id)
    assert closed["status"] == "closed" and closed["solved"] is True
    assert closed["supervision"] == "pending" and closed["rating"]["value"] == "unsatisfied"

    page = staff.get(f"/console/tickets/{ticket_id}").text
    assert 'id="supervise-form"' in page
    supervised = post_form(
        staff, f"/console/tickets/{ticket_id}/supervise", {"note": "已约谈承办人，要求提速"}
    )
    assert supervised.status_code == 303
    after = api_ticket(app, ticket_id)
    assert after["supervision"] == "done"
    assert after["history"][-1]["note"] == "督办复核：已约谈承办人，要求提速"


def test_follow_up_days_later_and_the_problem_back_files_a_linked_ticket(
    tmp_path: Path,
) -> None:
    # The worker's clock pass runs every 0.2 s here; time passing is a database update.
    with running_app(tmp_path, INTAKE_SLA_CHECK_SECONDS=0.2) as app:
        _, confirmed = converse(app, OPENID, "幸福小区5号楼下的路灯坏了，电话13812345678", "确认")
        match = _TICKET_ID.search(confirmed or "")
        assert match, confirmed
        ticket_id = match.group(1)
        dispatched(app, ticket_id)
        with api(app) as client:
            done = client.post(
                f"/api/tickets/{ticket_id}/status", json={"status": "resolved", "note": "已修复"}
            )
        assert done.status_code == 200, done.text
        assert converse(app, OPENID, "已解决", "满意")[1] == msg.RATING_THANKS
        closed = api_ticket(app, ticket_id)
        assert closed["status"] == "closed" and closed["follow_up"]["state"] == "due"

        async def fourteen_days_later() -> None:
            engine = create_engine(app.settings.effective_database_url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        update(TicketRow)
                        .where(TicketRow.id == ticket_id)
                        .values(follow_up_at=utcnow() - timedelta(minutes=1))
                    )
            finally:
                await engine.dispose()

        asyncio.run(fourteen_days_later())
        eventually(lambda: _pushed(app, ticket_id, "问题有没有再出现"), what="the 回访 push")
        [answer] = converse(app, OPENID, "又出现了，晚上又不亮")
        assert answer and msg.FOLLOW_UP_RECURRED in answer
        again = re.search(r"新的工单号：(\d{8}-\d{4,})", answer)
        assert again, answer
        second = api_ticket(app, again.group(1))
        assert second["repeat_of"] == ticket_id and second["category"] == "report.streetlight"
        assert "晚上又不亮" in second["description"]
        first = api_ticket(app, ticket_id)
        assert first["follow_up"]["state"] == "recurred"
