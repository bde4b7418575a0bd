"""The dialogue benchmark (benchmarks/dialogue_benchmark.py) counts success and failure kinds
the way its figures claim: a few residents against the real app, the reply reader on the
bot's own sentences, the ticket judge, and the shipped scenario set's composition."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.dialogue_benchmark import (
    DEFAULT_DATA,
    DataError,
    FAQResident,
    ReportResident,
    Target,
    judge_tickets,
    load_residents,
    read_reply,
    run_residents,
    summarize,
)
from bot.handlers.dialogue import faq_entries
from policies import messages as msg
from policies.taxonomy import load_taxonomy
from tests.bot.wechat_harness import running_app

# Texts the load benchmark's scripts (and the story tests) show the bot handles today, so
# the expected outcomes below depend on the harness, not on the NLU of the day. Phones are
# typed plainly for the same reason.
RESIDENTS = """
reports:
- id: place-in-opening
  category: report.noise
  opening: 幸福小区12号楼楼下半夜装修噪音太大
  place: 幸福小区12号楼
  place_in_opening: true
  description: 半夜装修噪音太大
  phone: "13812345670"
  confirm: 确认
- id: place-asked
  category: report.streetlight
  opening: 路灯坏了
  place: 幸福小区3号楼东门
  place_in_opening: false
  description: 路灯不亮
  phone: "13812345671"
  confirm: 确认
- id: nonsense-place
  category: report.streetlight
  opening: 路灯坏了
  place: 不知道
  place_in_opening: false
  description: 路灯不亮
  phone: "13812345672"
  confirm: 确认
- id: expects-another-category
  category: report.garbage
  opening: 路灯坏了
  place: 幸福小区5号楼东门
  place_in_opening: false
  description: 路灯不亮
  phone: "13812345673"
  confirm: 确认
faq:
- id: faq-answered
  topic: faq.medical.e_voucher
  opening: 医保电子凭证怎么激活
- id: expects-another-topic
  topic: faq.social.card
  opening: 医保电子凭证怎么激活
"""


async def test_the_harness_counts_successes_and_failure_kinds_against_the_app(
    tmp_path: Path,
) -> None:
    residents = load_residents(RESIDENTS)
    with running_app(tmp_path) as app:
        assert app.runtime.nlu is not None
        target = Target(
            base_url=app.url,
            signer=app.signer,
            admin_token=str(app.settings.server.admin_token),
            faq=faq_entries(app.runtime.nlu),
            fake=app.fake,
        )
        outcomes = await run_residents(target, residents, concurrency=3)
    by_id = {o.resident.id: o for o in outcomes}
    transcripts = {o.resident.id: o.transcript for o in outcomes}

    in_opening = by_id["place-in-opening"]
    assert in_opening.success, transcripts["place-in-opening"]
    assert [t["category"] for t in in_opening.tickets] == ["report.noise"]
    assert "幸福小区12号楼" in in_opening.tickets[0]["location"]

    asked = by_id["place-asked"]
    assert asked.success, transcripts["place-asked"]
    assert asked.transcript[2] == ("resident", "幸福小区3号楼东门")  # answered "where?"
    assert asked.ticket_id == asked.tickets[0]["id"]
    assert asked.turns <= 6

    nonsense = by_id["nonsense-place"]
    assert not nonsense.success
    assert "place_refused" in nonsense.kinds, nonsense.failures
    assert not {"error", "wrong_category"} & set(nonsense.kinds), nonsense.failures

    other = by_id["expects-another-category"]
    assert other.kinds == ["wrong_category"], other.failures
    assert other.failures[0].detail == "ticket is report.streetlight"

    assert by_id["faq-answered"].success, transcripts["faq-answered"]
    wrong = by_id["expects-another-topic"]
    assert wrong.kinds == ["wrong_topic"], wrong.failures
    assert "faq.medical.e_voucher" in wrong.failures[0].detail

    summary = summarize(outcomes)
    assert summary["overall"] == {"success": 3, "total": 6, "pct": 50.0}
    assert summary["reports"]["success"] == 2 and summary["reports"]["total"] == 4
    assert summary["faq"] == {"success": 1, "total": 2, "pct": 50.0}
    assert summary["failures_by_kind"]["wrong_category"] == 1
    assert summary["failures_by_kind"]["wrong_topic"] == 1
    assert summary["failures_by_kind"]["place_refused"] == 1
    assert sum(summary["first_failure_by_kind"].values()) == 3


def test_replies_are_read_by_the_bots_own_sentences() -> None:
    started = msg.case_started("路灯不亮/损坏")
    for slot in ("location", "description", "phone"):
        reading = read_reply(started + "\n\n" + msg.ask_slot(slot))
        assert (reading.kind, reading.slot, reading.retry) == ("ask_slot", slot, False)
        assert reading.category_label == "路灯不亮/损坏"
        retry = read_reply(msg.ask_slot(slot, retry=True) + "\n" + msg.OFFER_PERSON)
        assert (retry.kind, retry.slot, retry.retry) == ("ask_slot", slot, True)
    summary = msg.case_summary("路灯不亮/损坏", "幸福小区3号楼", "路灯坏了", "13812345678")
    assert read_reply(summary).kind == "summary"
    assert read_reply(msg.ask_reuse_phone("13812345678")).kind == "reuse_phone"
    ticket = read_reply(msg.ticket_created("20261201-0007", "市政照明管理处"))
    assert (ticket.kind, ticket.ticket_id) == ("ticket", "20261201-0007")
    choices = read_reply(msg.faq_choices(["社保卡申领/挂失/补换", "新生儿参加医保"]))
    assert choices.kind == "faq_choices"
    assert choices.choices == ("社保卡申领/挂失/补换", "新生儿参加医保")
    answer = read_reply(msg.faq_answer("新生儿参加医保", "您好！……"))
    assert (answer.kind, answer.faq_title) == ("faq_answer", "新生儿参加医保")
    assert read_reply(msg.emergency_guidance("电梯里有人被困")).kind == "urgent_offer"
    for text in (msg.NOT_UNDERSTOOD, msg.OUT_OF_SCOPE, msg.GREETING, msg.THANKS):
        assert read_reply(text).kind == "not_understood"
    assert read_reply(msg.HANDOFF_STARTED).kind == "handoff"
    assert read_reply(msg.HANDOFF_AFTER_MISUNDERSTANDING).kind == "handoff"
    assert read_reply(msg.status_list([])).kind == "status"
    assert read_reply("今天天气不错").kind == "unknown"


def _resident(place: str = "幸福小区3号楼东门") -> ReportResident:
    return ReportResident(
        id="r",
        opening="路灯坏了",
        category="report.streetlight",
        place=place,
        place_in_opening=False,
        description="路灯不亮",
        phone="13812345678",
        confirm="对",
    )


def test_tickets_are_judged_on_count_category_and_the_place_as_typed() -> None:
    resident = _resident("星河湾B区12栋")
    good = {"id": "t1", "category": "report.streetlight", "location": "星河湾B区12栋东侧"}
    assert judge_tickets(resident, [good]) == []
    assert [f.kind for f in judge_tickets(resident, [])] == ["no_ticket"]
    assert [f.kind for f in judge_tickets(resident, [good, {**good, "id": "t2"}])] == ["error"]
    wrong = {**good, "category": "report.garbage"}
    assert [f.kind for f in judge_tickets(resident, [wrong])] == ["wrong_category"]
    for location in ("星河湾b区12栋", "星河湾12栋", "B区12栋", "星河湾Ｂ区12栋"):
        mangled = {**good, "location": location}
        assert [f.kind for f in judge_tickets(resident, [mangled])] == ["place_lost_or_mangled"], (
            location
        )


def test_the_loader_rejects_inconsistent_residents() -> None:
    with pytest.raises(DataError, match="place_in_opening is true but the place is not"):
        load_residents(RESIDENTS.replace("place: 幸福小区12号楼\n", "place: 幸福小区13号楼\n"))
    with pytest.raises(DataError, match="place_in_opening is false but the place is"):
        named = "opening: 幸福小区3号楼东门路灯坏了\n"
        load_residents(RESIDENTS.replace("opening: 路灯坏了\n", named, 1))
    with pytest.raises(DataError, match="unknown report category"):
        load_residents(RESIDENTS.replace("report.garbage", "report.rubbish"))
    with pytest.raises(DataError, match="phone is missing"):
        load_residents(RESIDENTS.replace('phone: "13812345670"', "phone: ''"))


def test_the_shipped_scenarios_cover_the_taxonomy() -> None:
    residents = load_residents(DEFAULT_DATA)
    taxonomy = load_taxonomy()
    reports = [r for r in residents if isinstance(r, ReportResident)]
    faqs = [r for r in residents if isinstance(r, FAQResident)]
    assert len(reports) >= 160 and len(faqs) >= 40
    per_category = Counter(r.category for r in reports)
    assert {c: n for c, n in per_category.items() if n < 5} == {}
    assert set(taxonomy.report_ids) <= set(per_category)
    assert set(taxonomy.faq_ids) <= {r.topic for r in faqs}
    assert any(r.place_in_opening for r in reports)
    assert any(not r.place_in_opening for r in reports)
