"""The pure ticket rules of ``policies/tickets.py`` (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies.pushes import push_plan
from policies.taxonomy import load_taxonomy
from policies.tickets import (
    LEVELS,
    OPEN_STATUSES,
    SOLVED_PROMPT,
    STATUS_LABELS,
    STATUSES,
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    GridRules,
    Refusal,
    SlaRules,
    assignment_refusal,
    customer_service_refusal,
    escalation_refusal,
    format_ticket_id,
    load_grid_rules,
    load_sla_rules,
    next_level,
    parse_grid_rules,
    rating_outcome,
    reported_change,
    return_refusal,
    review_refusal,
    short_category_label,
    staff_status_choices,
    status_push_text,
    status_template_fields,
    transition_refusal,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_vocabulary_is_complete_and_consistent() -> None:
    assert set(STATUS_LABELS) == set(STATUSES)
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
        ("dispatched", "returned", False),  # only a department's return
        ("returned", "dispatched", False),  # only the review of it
        ("returned", "resolved", True),
    ],
)
def test_transitions(current: str, target: str, allowed: bool) -> None:
    assert (transition_refusal(current, target) is None) is allowed


def reason(refusal: Refusal | None) -> str:
    return refusal.reason if refusal else ""


def text(refusal: Refusal | None) -> str:
    return refusal.text if refusal else ""


def test_staff_resolve_or_reject_any_open_status_but_rejection_needs_a_reason() -> None:
    for status in WORKING_STATUSES:
        assert transition_refusal(status, "resolved") is None
        assert transition_refusal(status, "rejected", note="不属于受理范围") is None
        refusal = transition_refusal(status, "rejected", note=" ")
        assert refusal is not None and "note" in refusal.reason and refusal.incomplete
        assert refusal.text == "退回工单需要填写原因，原因会告知群众。"


def test_rating_is_the_only_way_out_of_resolved() -> None:
    assert "rating" in reason(transition_refusal("resolved", "closed"))
    assert "只能由群众评价产生" in text(transition_refusal("dispatched", "closed"))
    assert transition_refusal("resolved", "closed", via="feedback") is None
    assert transition_refusal("resolved", "reopened", via="feedback") is None
    assert transition_refusal("in_progress", "returned", via="return") is None
    assert "退单请使用" in text(transition_refusal("in_progress", "returned"))
    assert transition_refusal("returned", "dispatched", via="review") is None
    assert "审定" in text(transition_refusal("returned", "dispatched"))
    assert [rating_outcome(r) for r in ("satisfied", "basically_satisfied", "unsatisfied")] == [
        "closed",
        "closed",
        "reopened",
    ]
    with pytest.raises(ValueError):
        rating_outcome("so-so")


def test_final_statuses_say_so() -> None:
    final = transition_refusal("closed", "in_progress")
    assert final is not None and "final" in final.reason and not final.incomplete
    assert final.text == "工单已是“已评价”，不能再更改状态。"
    unknown = transition_refusal("received", "done")
    assert unknown is not None and "unknown status" in unknown.reason and unknown.incomplete


def test_what_staff_may_choose_follows_the_status_machine() -> None:
    assert staff_status_choices("dispatched") == ("in_progress", "resolved", "rejected")
    assert staff_status_choices("resolved") == () == staff_status_choices("closed")


def test_returns_escalations_and_assignments_have_their_rules() -> None:
    assert return_refusal("dispatched") is None
    assert return_refusal("in_progress") is None  # at any level: the level above reviews
    assert "只有“已派单”或“处理中”" in text(return_refusal("received"))
    assert review_refusal(
        "returned", "reroute", current_department="照明处", department="城管科"
    ) is None
    assert review_refusal(
        "returned", "send_back", current_department="照明处", department=None
    ) is None
    same = review_refusal("returned", "reroute", current_department="照明处", department="照明处")
    assert same is not None and same.incomplete
    assert "没有待审定的退单" in text(
        review_refusal("dispatched", "send_back", current_department="照明处", department=None)
    )
    assert escalation_refusal("received", "street") is None
    assert escalation_refusal("received", "city") is not None
    assert escalation_refusal("resolved", "community") is not None
    assert assignment_refusal("reopened") is None
    assert "不能再指派" in text(assignment_refusal("closed"))


@pytest.mark.parametrize(
    ("current", "reported", "change"),
    [
        ("dispatched", "in_progress", "apply"),
        ("in_progress", "resolved", "apply"),
        ("in_progress", "in_progress", "ignore"),  # a repeat
        ("dispatched", "received", "ignore"),  # only we set it
        ("dispatched", "returned", "ignore"),  # only we set it
        ("resolved", "in_progress", "ignore"),  # stale
        ("dispatched", "rejected", "return"),  # a department's return: reviewed above
        ("returned", "rejected", "note_return"),  # returned already
        ("received", "rejected", "note_return"),
        ("closed", "rejected", "ignore"),
    ],
)
def test_what_a_dispatch_systems_report_does(current: str, reported: str, change: str) -> None:
    assert reported_change(current, reported) == change


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
    """The first step of a push's chain (the rest: tests/policies/test_pushes.py)."""

    def first(last: datetime | None, sent: int = 0) -> str | None:
        refusal = customer_service_refusal(
            last_inbound_at=last, now=NOW, sent_in_window=sent, quota=3
        )
        return push_plan(window_refusal=refusal, template_configured=True,
                         subscription_configured=False, sms_configured=False,
                         has_phone=True)[0].skip

    assert first(NOW - timedelta(hours=47)) is None
    assert first(NOW - timedelta(hours=48)) == "outside the 48-hour window"
    assert first(NOW - timedelta(hours=1), sent=3) == "customer-service quota of the window used"
    assert first(None) == "outside the 48-hour window"


def test_customer_service_refusals() -> None:
    def refusal(last: datetime | None, sent: int = 0) -> str | None:
        return customer_service_refusal(
            last_inbound_at=last, now=NOW, sent_in_window=sent, quota=3
        )

    assert refusal(NOW - timedelta(minutes=5), sent=2) is None
    assert refusal(NOW - timedelta(minutes=5), sent=3) == "over_quota"
    assert refusal(NOW - timedelta(hours=48)) == "window_closed"
    assert refusal(None) == "window_closed"


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
        "已办结，处理结果：已更换灯泡。" + SOLVED_PROMPT
    )
    assert "经核定，已改由市政照明管理处办理" in text("dispatched", rerouted=True)
    assert "已重新交由市政照明管理处办理" in text("reopened")
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
