"""The dialogue policy when an open ticket already covers the case being confirmed: the
resident is told before anything is filed, and chooses to follow it or file their own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from policies import messages as msg
from policies.dialogue import (
    Context,
    CreateTicket,
    FollowTicket,
    NearbyProblem,
    Turn,
    decide,
)
from policies.state import Case, DialogueState
from tests.policies.test_dialogue_rules import read_location

CASE = Case(
    category="report.streetlight",
    location="幸福小区3号楼东门",
    description="路灯坏了",
    phone="13800000001",
)
NEARBY = NearbyProblem(ticket_id="20261123-0001", residents=2, status="in_progress")


def confirming() -> DialogueState:
    return DialogueState(mode="confirming", case=replace(CASE))


def offered() -> DialogueState:
    return DialogueState(mode="offer_follow", case=replace(CASE), follow_ticket="20261123-0001")


def ctx(**values: object) -> Context:
    return Context(read_location=read_location, **values)  # type: ignore[arg-type]


def test_without_an_open_problem_the_confirmation_files() -> None:
    decision = decide(confirming(), Turn(text="确认", intent="affirm", confidence=0.9), ctx())
    assert decision.actions == [CreateTicket(CASE)]


def test_an_open_problem_is_said_before_filing() -> None:
    decision = decide(
        confirming(), Turn(text="确认", intent="affirm", confidence=0.9), ctx(nearby=NEARBY)
    )
    assert decision.actions == []  # nothing filed, nothing followed yet
    assert decision.state.mode == "offer_follow"
    assert decision.state.follow_ticket == "20261123-0001"
    assert decision.replies == [msg.nearby_problem(2, "20261123-0001", "in_progress")]
    assert "这个问题附近已有 2 位居民反映，工单 20261123-0001 正在办理" in decision.replies[0]


def test_a_correction_while_confirming_is_not_a_yes() -> None:
    decision = decide(
        confirming(), Turn(text="地址不对，是8栋", intent="deny", confidence=0.5),
        ctx(nearby=NEARBY),
    )
    assert decision.state.mode != "offer_follow"


@pytest.mark.parametrize("text", ["1", "关注", "好的", "是同一个问题", "第一个"])
def test_follow(text: str) -> None:
    decision = decide(offered(), Turn(text=text), ctx())
    assert decision.actions == [FollowTicket("20261123-0001", CASE)]
    assert decision.state == DialogueState()


@pytest.mark.parametrize("text", ["2", "单独提交", "不是同一个问题", "不一样", "第二个"])
def test_file_separately(text: str) -> None:
    decision = decide(offered(), Turn(text=text), ctx())
    assert decision.actions == [CreateTicket(CASE)]


def test_anything_else_keeps_the_choice_open() -> None:
    decision = decide(offered(), Turn(text="什么意思", intent="out_of_scope"), ctx())
    assert decision.actions == [] and decision.state.mode == "offer_follow"
    assert decision.replies == [msg.FOLLOW_REMINDER]
    cancelled = decide(offered(), Turn(text="取消"), ctx())
    assert cancelled.actions == [] and cancelled.replies == [msg.CANCELLED]


def test_the_state_survives_storage() -> None:
    state = offered()
    assert DialogueState.from_dict(state.to_dict()) == state


def test_the_residents_own_report() -> None:
    mine = NearbyProblem("20261123-0001", residents=0, status="dispatched", mine=True)
    decision = decide(
        confirming(), Turn(text="确认", intent="affirm", confidence=0.9), ctx(nearby=mine)
    )
    assert decision.replies[0].startswith("您之前已经反映过这个问题，工单 20261123-0001 正在办理")
