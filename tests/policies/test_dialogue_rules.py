"""Pure rules of the dialogue policy that are easiest to pin down one by one."""

from __future__ import annotations

import pytest

from policies import messages as msg
from policies.dialogue import (
    Context,
    CreateTicket,
    Decision,
    FAQEntry,
    LocationReading,
    RateTicket,
    StartHandoff,
    Turn,
    decide,
    read_choice,
    read_rating,
    read_replacement,
)
from policies.state import Case, DialogueState


def read_location(text: str) -> LocationReading:
    """A stand-in for the NLU's reading (nlu.address has its own tests)."""
    if any(ch in text for ch in "坏堵漏吵"):
        return LocationReading("not_place")  # a problem, not an answer to "where?"
    if any(w in text for w in ("小区", "号", "栋")) or text.endswith(("路", "口")):
        return LocationReading("place", text.strip("，。 "))
    if text in ("这边", "我家楼下"):
        return LocationReading("vague", text)
    return LocationReading("not_place")


CTX = Context(
    faq={"faq.a": FAQEntry("甲", "答甲"), "faq.b": FAQEntry("乙", "答乙")},
    category_labels={"report.streetlight": "路灯不亮/损坏"},
    read_location=read_location,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("地址不对，是8栋不是6栋", ("8栋", "6栋")),
        ("不是6栋，是8栋", ("8栋", "6栋")),
        ("改成幸福小区东门", ("幸福小区东门", None)),
        ("地址错了", (None, None)),
    ],
)
def test_replacement(text: str, expected: tuple[str | None, str | None]) -> None:
    assert read_replacement(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("满意", ("satisfied", None)),
        ("基本满意", ("basically_satisfied", None)),
        ("不满意，路灯还是不亮", ("unsatisfied", "路灯还是不亮")),
        ("不满意", ("unsatisfied", None)),
        ("我对物业很不满意他们从来不管事情", None),
    ],
)
def test_rating(text: str, expected: tuple[str, str | None] | None) -> None:
    assert read_rating(text) == expected


@pytest.mark.parametrize(("text", "index"), [("1", 0), ("第二个", 1), ("二", 1), ("3", None)])
def test_choice(text: str, index: int | None) -> None:
    options = ["faq.a", "faq.b"]
    assert read_choice(text, options) == (None if index is None else options[index])


def confirming_state() -> DialogueState:
    case = Case(
        "report.streetlight", location="幸福小区6栋", description="路灯坏了", phone="13812345678"
    )
    return DialogueState(mode="confirming", case=case)


def test_decide_does_not_modify_its_input() -> None:
    state = confirming_state()
    before = state.to_dict()
    decide(state, Turn(text="地址不对，是8栋不是6栋", intent="deny", confidence=0.9), CTX)
    assert state.to_dict() == before


def test_a_copy_has_every_field_and_shares_nothing() -> None:
    """``copy()`` is what decide() starts from: a field it left out would be forgotten
    after every turn (the follow offer's ticket once was)."""
    state = confirming_state()
    state.mode = "offer_follow"
    state.follow_ticket = "20261123-0001"
    state.faq_choices = ["faq.a", "faq.b"]
    state.misunderstood = 2
    state.pending_photos = ["media-1"]
    state.pending_location = "幸福小区"
    state.pending_latitude, state.pending_longitude = 30.5, 114.3
    assert state.case is not None
    state.case.photos.append("media-2")
    state.case.failures["phone"] = 1
    copied = state.copy()
    assert copied.to_dict() == state.to_dict() == DialogueState.from_dict(state.to_dict()).to_dict()
    assert copied.case is not None
    copied.faq_choices.append("faq.c")
    copied.pending_photos.clear()
    copied.case.photos.clear()
    copied.case.failures.clear()
    assert state.faq_choices == ["faq.a", "faq.b"] and state.pending_photos == ["media-1"]
    assert state.case.photos == ["media-2"] and state.case.failures == {"phone": 1}


def test_correction_then_confirm_creates_ticket_with_corrected_value() -> None:
    decision = decide(
        confirming_state(), Turn(text="地址不对，是8栋不是6栋", intent="deny", confidence=0.9), CTX
    )
    assert decision.state.case is not None and decision.state.case.location == "幸福小区8栋"
    assert decision.state.mode == "confirming"
    done = decide(decision.state, Turn(text="确认", intent="affirm", confidence=0.95), CTX)
    assert isinstance(done.actions[0], CreateTicket)
    assert done.actions[0].case.location == "幸福小区8栋"
    assert done.state.mode == "idle" and done.state.case is None


def test_two_misunderstandings_hand_off() -> None:
    nonsense = Turn(text="asdf", intent="out_of_scope", confidence=0.2, fallback="low_confidence")
    first = decide(DialogueState(), nonsense, CTX)
    assert not first.actions and first.state.misunderstood == 1
    second = decide(first.state, nonsense, CTX)
    assert second.actions == [StartHandoff("misunderstood")]


def test_rating_only_when_a_ticket_awaits_it() -> None:
    turn = Turn(text="不满意", intent="deny", confidence=0.8)
    assert not any(isinstance(a, RateTicket) for a in decide(DialogueState(), turn, CTX).actions)
    ctx = Context(faq=CTX.faq, awaiting_rating=("20261123-0001",), read_location=read_location)
    decision: Decision = decide(DialogueState(), turn, ctx)
    assert decision.actions == [RateTicket("20261123-0001", "unsatisfied", None)]


def collecting(asking: str = "location") -> DialogueState:
    case = Case("report.streetlight", description="路灯坏了")
    return DialogueState(mode="collecting", case=case, asking=asking)


def test_a_place_in_the_first_message_is_not_asked_again() -> None:
    turn = Turn(
        text="星河湾B区12栋门口路灯坏了",
        intent="report.streetlight",
        confidence=0.9,
        entities=({"entity": "address", "value": "星河湾B区12栋门口", "start": 0, "end": 10},),
    )
    decision = decide(DialogueState(), turn, CTX)
    assert decision.state.case is not None
    assert decision.state.case.location == "星河湾B区12栋门口"
    assert decision.state.asking == "phone"


def test_a_vague_answer_is_asked_once_more_then_taken() -> None:
    first = decide(collecting(), Turn(text="我家楼下"), CTX)
    assert first.state.asking == "location" and first.replies == [
        msg.ask_slot("location", retry=True)
    ]
    assert not first.answered
    second = decide(first.state, Turn(text="我家楼下"), CTX)
    assert second.state.case is not None and second.state.case.location == "我家楼下"
    assert second.state.asking == "phone" and second.answered


@pytest.mark.parametrize("answer", ["2", "对", "不知道", "13912345678"])
def test_no_place_is_never_stored_as_the_address(answer: str) -> None:
    state = collecting()
    replies: list[str] = []
    for _ in range(2):
        decision = decide(state, Turn(text=answer, intent="out_of_scope", confidence=0.3), CTX)
        assert decision.state.case is not None and decision.state.case.location is None
        replies.extend(decision.replies)
        state = decision.state
    assert replies[-1].startswith(msg.LOCATION_NOT_A_PLACE)
    third = decide(state, Turn(text=answer, intent="out_of_scope", confidence=0.3), CTX)
    assert third.actions == [StartHandoff("stuck")]


@pytest.mark.parametrize("word", ["对", "是的", "没问题", "对的，提交吧", "好的谢谢", "嗯对"])
def test_people_confirm_in_their_own_words(word: str) -> None:
    # Whatever the classifier made of the word alone: it answers "确认无误请回复确认".
    decision = decide(confirming_state(), Turn(text=word, intent="out_of_scope"), CTX)
    assert isinstance(decision.actions[0], CreateTicket) and decision.answered


def test_a_sure_complaint_of_an_unsure_category_is_acted_on() -> None:
    """ "桃源村三组的水渠堵了" — drainage or agriculture? Surely a complaint: the form starts
    with the likeliest category (the summary shows it) instead of "not understood"."""
    ranking = [
        {"name": "report.drainage", "confidence": 0.3},
        {"name": "report.agriculture", "confidence": 0.25},
        {"name": "status_query", "confidence": 0.2},
    ]
    parse = {
        "text": "桃源村三组的水渠堵了",
        "intent": {"name": "report.drainage", "confidence": 0.3},
        "intent_ranking": ranking,
    }
    decision = decide(DialogueState(), Turn.from_parse(parse), CTX)
    assert decision.state.case is not None and decision.state.case.category == "report.drainage"
    # Not so when the complaint share itself is low.
    ranking[1]["confidence"] = 0.05
    unsure = decide(DialogueState(), Turn.from_parse(parse), CTX)
    assert unsure.state.case is None


def test_a_case_keeps_no_id_card_or_phone_number_in_its_words() -> None:
    """Issue 13: the case's description and location are redacted as they are set, so the
    state in Redis, the confirmation read back and the ticket never hold them whole; the
    phone slot keeps the number for the ticket."""
    turn = Turn(
        text="路灯坏了，身份证110105–19900101–103X，电话158 6739 2041",
        intent="report.streetlight",
        confidence=0.95,
        entities=({"entity": "phone", "value": "15867392041"},),
    )
    decision = decide(DialogueState(), turn, CTX)
    case = decision.state.case
    assert case is not None and case.phone == "15867392041"
    assert case.description == "路灯坏了，身份证110105********103X，电话158****2041"
    case.location = "幸福小区3号楼，卡号6222021234567890128"
    assert case.location == "幸福小区3号楼，卡号6222****0128"
    stored = DialogueState.from_dict(decision.state.to_dict())
    assert stored.case == case
    summary = msg.case_summary("路灯", case.location, case.description, case.phone)
    assert "19900101" not in summary and "67392041" not in summary


def test_a_place_on_its_own_is_kept_for_the_report_that_follows() -> None:
    first = decide(
        DialogueState(),
        Turn(
            text="幸福小区3号楼东门",
            intent="report.streetlight",
            confidence=0.6,
            entities=({"entity": "address", "value": "幸福小区3号楼东门", "start": 0, "end": 9},),
        ),
        CTX,
    )
    assert first.state.case is None and first.replies == [msg.place_received("幸福小区3号楼东门")]
    report = decide(
        first.state, Turn(text="路灯坏了", intent="report.streetlight", confidence=0.95), CTX
    )
    assert report.state.case is not None and report.state.case.location == "幸福小区3号楼东门"
    assert report.state.asking == "phone"
