"""The resident's answers after 办结 (issue 17): 解决 first, then 满意; the 回访 — as the
dialogue policy reads them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from policies import messages as msg
from policies.dialogue import (
    AnswerFollowUp,
    AnswerSolved,
    RateTicket,
    Turn,
    decide,
    looks_like_after_closure,
    read_follow_up,
    read_solved,
)
from policies.state import Case, DialogueState
from tests.policies.test_dialogue_rules import CTX


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("没解决", (False, None)),
        ("没解决，晚上灯还是不亮", (False, "晚上灯还是不亮")),
        ("还没好", (False, None)),
        ("没有", (False, None)),
        ("已解决", (True, None)),
        ("解决了，谢谢", (True, "谢谢")),
        ("灯修好了", (True, "灯修好了")),
        ("问题解决了吗", None),  # a question back
        ("小区门口的路灯坏了三天了，一直没人来修，晚上出门特别不方便，希望尽快解决", None),
        ("满意", None),
    ],
)
def test_reading_solved(text: str, expected: tuple[bool, str | None] | None) -> None:
    assert read_solved(text) == expected


def test_reading_the_follow_up_answer() -> None:
    assert read_follow_up("又出现了，晚上又不亮") == (True, "晚上又不亮")
    assert read_follow_up("没再出现") == (False, None)
    assert read_follow_up("没解决") is None
    assert all(looks_like_after_closure(t) for t in ("没解决", "满意", "又出现了"))
    assert not looks_like_after_closure("我要反映噪音问题")


def test_solved_is_asked_first_then_satisfaction() -> None:
    ctx = replace(CTX, awaiting_solved=("T1",), awaiting_rating=("T1",))
    unsolved = decide(DialogueState(), Turn(text="没解决，灯还是不亮"), ctx)
    assert unsolved.actions == [AnswerSolved("T1", False, "灯还是不亮")]
    assert unsolved.replies == [msg.UNSOLVED_REOPENED]
    solved = decide(DialogueState(), Turn(text="已解决"), ctx)
    assert solved.actions == [AnswerSolved("T1", True, None)]
    assert solved.replies == [msg.SOLVED_ASK_RATING]
    # 不满意 before saying whether it is solved: read as not solved (reopened one level up).
    early = decide(DialogueState(), Turn(text="不满意"), ctx)
    assert early.actions == [RateTicket("T1", "unsatisfied", None)]
    assert early.replies == [msg.RATING_REOPENED]


def test_unsatisfied_after_solved_goes_to_a_supervisor() -> None:
    ctx = replace(CTX, awaiting_rating=("T1",))
    decision = decide(DialogueState(), Turn(text="不满意，拖了一周"), ctx)
    assert decision.actions == [RateTicket("T1", "unsatisfied", "拖了一周")]
    assert decision.replies == [msg.RATING_SUPERVISED]


def test_follow_up_answers_and_short_words_inside_a_form() -> None:
    ctx = replace(CTX, awaiting_follow_up=("T9",), awaiting_solved=("T1",))
    recurred = decide(DialogueState(), Turn(text="又出现了"), ctx)
    assert recurred.actions == [AnswerFollowUp("T9", True, None)]
    assert recurred.replies == [msg.FOLLOW_UP_RECURRED]
    # While the bot asks for a place, "没有" answers the form, not "was it solved?".
    collecting = DialogueState(mode="collecting", case=Case(category="report.streetlight"))
    inside = decide(collecting, Turn(text="没有"), ctx)
    assert not any(isinstance(a, AnswerSolved | AnswerFollowUp) for a in inside.actions)
