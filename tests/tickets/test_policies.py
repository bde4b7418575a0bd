"""The pure ticket rules of ``policies/tickets.py`` (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies.messages import STATUS_LABELS as DIALOGUE_LABELS
from policies.taxonomy import load_taxonomy
from policies.tickets import (
    LEVELS,
    OPEN_STATUSES,
    RATING_PROMPT,
    STATUS_LABELS,
    STATUSES,
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    GridRules,
    SlaRules,
    choose_push_channel,
    format_ticket_id,
    load_grid_rules,
    load_sla_rules,
    next_level,
    parse_grid_rules,
    rating_outcome,
    short_category_label,
    status_push_text,
    status_template_fields,
    transition_problem,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_vocabulary_is_complete_and_consistent() -> None:
    assert set(STATUS_LABELS) == set(STATUSES)
    assert STATUS_LABELS == DIALOGUE_LABELS  # the bot says the same words
    assert set(STATUSES) == OPEN_STATUSES | TERMINAL_STATUSES
    assert WORKING_STATUSES < OPEN_STATUSES and "resolved" in OPEN_STATUSES - WORKING_STATUSES


def test_levels_go_up_to_the_city() -> None:
    assert [next_level(level) for level in LEVELS] == ["street", "district", "city", None]
    with pytest.raises(ValueError, match="unknown level"):
        next_level("province")


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("received", "dispatched", True),
        ("received", "in_progress", True),
        ("dispatched", "in_progress", True),
        ("in_progress", "resolved", True),
        ("reopened", "dispatched", True),
        ("reopened", "in_progress", True),
        ("in_progress", "dispatched", False),
        ("resolved", "in_progress", False),
        ("closed", "reopened", False),
        ("rejected", "received", False),
        ("received", "received", False),
    ],
)
def test_transitions(current: str, target: str, allowed: bool) -> None:
    assert (transition_problem(current, target) is None) is allowed


def test_staff_resolve_or_reject_any_open_status_but_rejection_needs_a_reason() -> None:
    for status in WORKING_STATUSES:
        assert transition_problem(status, "resolved") is None
        assert transition_problem(status, "rejected", note="不属于受理范围") is None
        problem = transition_problem(status, "rejected", note=" ")
        assert problem is not None and "note" in problem


def test_rating_is_the_only_way_out_of_resolved() -> None:
    assert "rating" in (transition_problem("resolved", "closed") or "")
    assert transition_problem("resolved", "closed", via_rating=True) is None
    assert transition_problem("resolved", "reopened", via_rating=True) is None
    assert [rating_outcome(r) for r in ("satisfied", "basically_satisfied", "unsatisfied")] == [
        "closed",
        "closed",
        "reopened",
    ]
    with pytest.raises(ValueError):
        rating_outcome("so-so")


def test_final_statuses_say_so() -> None:
    assert "final" in (transition_problem("closed", "in_progress") or "")
    assert "unknown status" in (transition_problem("received", "done") or "")


def test_ticket_id_format() -> None:
    assert format_ticket_id("20261123", 42) == "20261123-0042"
    assert format_ticket_id("20261123", 12345) == "20261123-12345"


def test_packaged_sla_rules() -> None:
    rules = load_sla_rules()
    assert rules.hours("report.streetlight", urgent=False) == 72
    assert rules.hours("report.elevator", urgent=False) == 24
    assert rules.hours("report.greenery", urgent=False) == 72  # the default
    assert rules.hours("report.illegal_construction", urgent=True) == 24  # urgent caps
    assert rules.due_at("report.drainage", False, NOW) == NOW + timedelta(hours=48)
    assert rules.initial_level == "community"
    taxonomy = load_taxonomy()
    assert set(rules.categories) <= set(taxonomy.report_ids)


def test_sla_rules_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(
        "default_hours: 10\nurgent_hours: 2\ncategories: {report.noise: 5}\n"
        "escalation_hours: 3\ninitial_level: street\n",
        encoding="utf-8",
    )
    rules = load_sla_rules(path)
    assert rules.hours("report.noise", False) == 5 and rules.hours("report.noise", True) == 2
    assert rules.due_after_escalation("report.noise", False, NOW) == NOW + timedelta(hours=3)
    with pytest.raises(ValueError):
        SlaRules(default_hours=0)
    with pytest.raises(ValueError):
        SlaRules(initial_level="province")


def test_grid_routing() -> None:
    rules = load_grid_rules()
    assert rules.route("幸福小区3号楼东门") == "幸福社区网格"
    assert rules.route("和平路12号门口") == "和平社区网格"
    assert rules.route("某某大厦") == "街道网格化指挥中心"
    assert rules.route("人民路口公交站", "report.parking") == "人民路社区网格"  # first wins
    assert rules.route("建设路口", "report.parking") == "街道交通秩序网格"
    assert rules.route("建设路口", "report.noise") == "街道网格化指挥中心"
    assert GridRules().route("任何地方") == "街道网格化指挥中心"
    with pytest.raises(ValueError, match="grid rule 1"):
        parse_grid_rules({"rules": [{"grid": "无关键词"}]})


def test_push_channel_choice() -> None:
    def choose(last: datetime | None, sent: int = 0, template: bool = True) -> str:
        return choose_push_channel(
            last_inbound_at=last, now=NOW, sent_in_window=sent, quota=3,
            template_configured=template,
        )

    assert choose(NOW - timedelta(hours=47)) == "custom"
    assert choose(NOW - timedelta(hours=48)) == "template"
    assert choose(NOW - timedelta(hours=1), sent=3) == "template"
    assert choose(None) == "template"
    assert choose(None, template=False) == "none"


def test_push_wording() -> None:
    def text(status: str, **extra: object) -> str:
        return status_push_text(
            ticket_id="20261123-0042", category_label="路灯不亮/损坏", status=status,
            department="市政照明管理处", **extra,  # type: ignore[arg-type]
        )

    assert text("dispatched") == (
        "您反映的“路灯不亮/损坏”问题（工单号20261123-0042）已派单至市政照明管理处，我们会尽快处理。"
    )
    assert text("resolved", note="已更换灯泡。").endswith(
        "已办结，处理结果：已更换灯泡。请您对办理结果进行评价，" + RATING_PROMPT
    )
    assert "未能受理，原因：不属于本市管辖" in text("rejected", note="不属于本市管辖")
    assert "已提交区级部门（市政照明管理处）继续办理" in text(
        "dispatched", escalated=True, level="district"
    )
    assert short_category_label("噪音扰民(装修/空调外机/广场舞/商铺)") == "噪音扰民"
    fields = status_template_fields(
        ticket_id="20261123-0042", category_label="路灯不亮/损坏", status="dispatched",
        text=text("dispatched"),
    )
    assert fields == {
        "first": "您反映的“路灯不亮/损坏”问题有新进展",
        "keyword1": "20261123-0042",
        "keyword2": "已派单",
        "remark": "已派单至市政照明管理处，我们会尽快处理。",
    }
    for status in STATUSES:
        assert text(status, note="说明").startswith(("您反映的", "很抱歉"))
