"""意图与例句 and 待标注 over real HTTP: list, add, delete, export, import, the review queue,
each change audited."""

from __future__ import annotations

import asyncio
import re

import httpx

from integrations.db import create_engine
from integrations.training.examples import TrainingExampleStore
from integrations.training.review import ReviewQueue
from nlu.training_data import load_training_data, load_training_data_from_string
from tests.bot.wechat_harness import RunningApp
from tests.console.harness import csrf_token


def _examples(app: RunningApp, intent: str) -> list[tuple[str, str, str | None]]:
    async def read() -> list[tuple[str, str, str | None]]:
        engine = create_engine(app.settings.effective_database_url)
        try:
            records = await TrainingExampleStore(engine).examples_of(intent)
            return [(r.text, r.source, r.created_by) for r in records]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _queue(app: RunningApp, **item: object) -> int:
    async def add() -> int:
        engine = create_engine(app.settings.effective_database_url)
        try:
            item_id = await ReviewQueue(engine).add(**item)  # type: ignore[arg-type]
            assert item_id is not None
            return item_id
        finally:
            await engine.dispose()

    return asyncio.run(add())


def _audit(admin: httpx.Client, action: str) -> str:
    return admin.get("/console/admin/audit", params={"action": action}).text


def test_intents_list_counts_the_seeded_examples(
    console_app: RunningApp, admin: httpx.Client
) -> None:
    page = admin.get("/console/admin/intents")
    assert page.status_code == 200
    packaged = load_training_data()
    streetlight = sum(1 for ex in packaged.examples if ex.intent == "report.streetlight")
    row = re.search(
        r'href="/console/admin/intents/report.streetlight">([^<]+)</a>.*?<td class="count">(\d+)',
        page.text,
        re.S,
    )
    assert row and row.group(1) == "路灯不亮/损坏" and int(row.group(2)) == streetlight
    # FAQ topics are intents too.
    assert 'href="/console/admin/intents/faq.medical.e_voucher"' in page.text

    detail = admin.get("/console/admin/intents/report.streetlight")
    assert detail.status_code == 200 and 'id="example-form"' in detail.text
    assert "[建设路和人民路交叉口](address)的路灯不亮" in detail.text
    assert admin.get("/console/admin/intents/report.nothing").status_code == 404


def test_add_and_delete_an_example(console_app: RunningApp, admin: httpx.Client) -> None:
    path = "/console/admin/intents/report.streetlight"
    token = csrf_token(admin, path)
    added = admin.post(
        path,
        data={"csrf_token": token, "action": "add", "text": "[望京西园](address)北门路灯全黑了"},
    )
    assert added.status_code == 303 and added.headers["location"].endswith("?msg=added")
    assert ("[望京西园](address)北门路灯全黑了", "admin", "li.admin") in _examples(
        console_app, "report.streetlight"
    )
    page = admin.get(added.headers["location"])
    assert "例句已添加" in page.text

    duplicate = admin.post(
        path, data={"csrf_token": token, "text": "[望京西园](address)北门路灯全黑了"}
    )
    assert duplicate.status_code == 200 and "已经有了" in duplicate.text
    empty = admin.post(path, data={"csrf_token": token, "text": "  "})
    assert empty.status_code == 400 and "不能为空" in empty.text
    too_long = admin.post(path, data={"csrf_token": token, "text": "灯" * 600})
    assert too_long.status_code == 400 and "太长" in too_long.text
    unknown = admin.post(
        "/console/admin/intents/report.nothing", data={"csrf_token": token, "text": "x"}
    )
    assert unknown.status_code == 404
    # Without the CSRF token nothing is added.
    forged = admin.post(path, data={"text": "伪造的例句"})
    assert forged.status_code == 403
    assert not any(t == "伪造的例句" for t, _, _ in _examples(console_app, "report.streetlight"))

    audit = _audit(admin, "example.add")
    assert "intent:report.streetlight" in audit and "北门路灯全黑了" in audit

    listing = admin.get(path).text
    row = re.search(r'望京西园.*?name="example_id" value="(\d+)"', listing, re.S)
    assert row, listing
    deleted = admin.post(
        path, data={"csrf_token": token, "action": "delete", "example_id": row.group(1)}
    )
    assert deleted.status_code == 303
    assert not any("望京西园" in t for t, _, _ in _examples(console_app, "report.streetlight"))
    assert "北门路灯全黑了" in _audit(admin, "example.delete")
    # The example id must belong to the intent in the path (id 1 is the first greeting).
    greet_first = _examples(console_app, "greet")[0]
    other = admin.post(path, data={"csrf_token": token, "action": "delete", "example_id": "1"})
    assert other.status_code == 404
    assert greet_first in _examples(console_app, "greet")


def test_export_then_import_round_trip(console_app: RunningApp, admin: httpx.Client) -> None:
    export = admin.get("/console/admin/intents/export")
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    data = load_training_data_from_string(export.text)
    assert len(data.examples) == len(load_training_data().examples)
    assert "examples.export" in _audit(admin, "examples.export")

    token = csrf_token(admin, "/console/admin/intents")
    # The same file again: everything is a duplicate, nothing changes.
    again = admin.post(
        "/console/admin/intents",
        data={"csrf_token": token},
        files={"file": ("nlu.yml", export.content, "application/x-yaml")},
    )
    assert again.status_code == 200
    assert re.search(r'class="import-added">0<', again.text)
    assert re.search(rf'class="import-duplicates">{len(data.examples)}<', again.text)

    pasted = (
        "nlu:\n"
        "- intent: report.streetlight\n"
        "  examples: |\n"
        "    - 东门的路灯晚上不亮了\n"
        "- intent: report.nothing\n"
        "  examples: |\n"
        "    - 这句不会进来\n"
    )
    result = admin.post("/console/admin/intents", data={"csrf_token": token, "yaml_text": pasted})
    assert re.search(r'class="import-added">1<', result.text)
    assert "第 7 行" in result.text and "report.nothing" in result.text
    assert ("东门的路灯晚上不亮了", "import", "li.admin") in _examples(
        console_app, "report.streetlight"
    )
    assert "added=1" in _audit(admin, "examples.import")
    empty = admin.post("/console/admin/intents", data={"csrf_token": token})
    assert empty.status_code == 400


def test_review_queue_assign_and_dismiss(console_app: RunningApp, admin: httpx.Client) -> None:
    guessed = _queue(
        console_app,
        openid="o-review-1",
        text="北门那个灯又不亮了，我手机13812345678",
        reason="low_confidence",
        guess="report.streetlight",
        confidence=0.34,
    )
    other = _queue(console_app, openid="o-review-2", text="垃圾桶满了没人收", reason="fallback")
    spam = _queue(console_app, openid="o-review-3", text="哈哈哈哈哈", reason="fallback")

    page = admin.get("/console/admin/review")
    assert page.status_code == 200
    assert "北门那个灯又不亮了，我手机138****5678" in page.text
    assert "13812345678" not in page.text
    assert "就是「路灯不亮/损坏」" in page.text and "34%" in page.text
    token = csrf_token(admin, "/console/admin/review")

    def dismiss(item: int) -> int:
        data = {"csrf_token": token, "item": str(item), "action": "dismiss"}
        return admin.post("/console/admin/review", data=data).status_code

    one_click = admin.post(
        "/console/admin/review",
        data={"csrf_token": token, "item": guessed, "intent": "report.streetlight"},
    )
    assert one_click.status_code == 303
    assert ("北门那个灯又不亮了，我手机138****5678", "review", "li.admin") in _examples(
        console_app, "report.streetlight"
    )
    chosen = admin.post(
        "/console/admin/review",
        data={"csrf_token": token, "item": other, "intent": "report.garbage"},
    )
    assert chosen.status_code == 303
    assert ("垃圾桶满了没人收", "review", "li.admin") in _examples(console_app, "report.garbage")
    assert dismiss(spam) == 303

    # Closed items cannot be handled twice.
    twice = admin.post(
        "/console/admin/review",
        data={"csrf_token": token, "item": guessed, "intent": "report.noise"},
    )
    assert twice.status_code == 400
    assert dismiss(spam) == 400

    remaining = admin.get("/console/admin/review").text
    assert "北门那个灯" not in remaining and "哈哈哈哈哈" not in remaining
    assigned = admin.get("/console/admin/review", params={"status": "assigned"}).text
    assert "垃圾桶满了没人收" in assigned and "li.admin" in assigned

    audit = _audit(admin, "review.")
    assert f"review:{guessed}" in audit and f"review:{other}" in audit and f"review:{spam}" in audit
    assert "report.garbage" in audit


def test_no_one_click_off_topic_for_messages_with_places_or_numbers(
    console_app: RunningApp, admin: httpx.Client
) -> None:
    """Addresses and phone numbers are never offered as one-click 与政务服务无关 examples:
    clicking through them would teach the model that places are off-topic."""
    ids = {
        text: _queue(
            console_app,
            openid=f"o-oneclick-{n}",
            text=text,
            reason="fallback",
            guess="out_of_scope",
            confidence=0.2,
        )
        for n, text in enumerate(("星河湾B区12栋", "13900002468", "帮我推荐一只股票"))
    }
    page = admin.get("/console/admin/review").text
    rows = {
        text: page.split(f'data-id="{item}"', 1)[1].split("</tr>", 1)[0]
        for text, item in ids.items()
    }
    assert "assign-guess" not in rows["星河湾B区12栋"]
    assert "assign-guess" not in rows["13900002468"]  # stored masked: 139****2468
    assert "assign-guess" in rows["帮我推荐一只股票"]
    # The other ways to label them stay.
    assert "assign-other" in rows["星河湾B区12栋"] and "dismiss" in rows["13900002468"]


def test_staff_cannot_curate(console_app: RunningApp, staff: httpx.Client) -> None:
    token = csrf_token(staff)
    response = staff.post(
        "/console/admin/intents/report.streetlight",
        data={"csrf_token": token, "text": "员工偷偷加的"},
    )
    assert response.status_code == 403
    assert staff.get("/console/admin/intents/export").status_code == 403
    assert not any(t == "员工偷偷加的" for t, _, _ in _examples(console_app, "report.streetlight"))
