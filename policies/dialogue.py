"""The dialogue policy: given a resident's state and an understood message, what to do.

Pure: no I/O, no clock, no randomness. The bot layer parses the message (``nlu``), loads the
state, calls :func:`decide`, performs the returned actions (create a ticket, look up tickets,
hand off to a person, record a rating) and saves the new state.

Priorities, first match wins: emergencies → requests for a person → plainly upset residents
→ ratings of a resolved ticket → the open step (numbered FAQ choice, urgent-ticket offer,
phone reuse, confirmation, slot filling, with FAQ/status/greeting interruptions answered and
the form resumed) → a fresh intent. Nobody is left at a dead end: anything not understood
gets the menu, and two misunderstandings in a row bring a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from policies import messages as msg
from policies.state import Case, DialogueState

__all__ = [
    "AnswerFollowUp",
    "AnswerSolved",
    "Context",
    "CreateTicket",
    "Decision",
    "FAQEntry",
    "FollowTicket",
    "LocationReading",
    "NearbyProblem",
    "QueryStatus",
    "RateTicket",
    "StartHandoff",
    "Turn",
    "decide",
    "looks_like_after_closure",
    "looks_like_rating",
    "read_choice",
    "read_follow_up",
    "read_rating",
    "read_replacement",
    "read_solved",
]

#: Below this the top intent is not acted on (the message counts as not understood).
ACT_CONFIDENCE = 0.45
#: In the middle of a form an interruption must be clearer than that to win over the
#: reading "this is my answer to your question".
INTERRUPT_CONFIDENCE = 0.7
#: A FAQ topic is answered outright at this confidence even when runner-ups are close;
#: below it, close runner-ups are offered as numbered choices.
FAQ_SURE = 0.9
#: Runner-up FAQ topics within this score of the best are offered as choices.
FAQ_CLOSE = 0.08
#: Below this confidence (calibrated: right about this often) a FAQ answer is not given
#: outright when other topics are plausible too ("医保" alone): the resident picks.
FAQ_ANSWER = 0.6
#: A topic needs at least this retrieval score to be offered as a choice.
FAQ_OFFER = 0.1

_UPSET_WORDS = (
    "投诉你们",
    "什么破",
    "破机器人",
    "垃圾机器人",
    "气死",
    "废物",
    "没用的东西",
    "滚",
    "他妈",
    "有病吧",
    "骗子",
    "太差劲",
    "烦死",
    "忍无可忍",
    "踢皮球",
)
#: Answers to "was it solved?" (negatives first: 没解决 contains 解决).
_SOLVED_WORDS = (
    ("没有解决", False),
    ("没解决", False),
    ("未解决", False),
    ("还没解决", False),
    ("没修好", False),
    ("还没好", False),
    ("没有", False),
    ("已解决", True),
    ("已经解决", True),
    ("解决了", True),
    ("修好了", True),
    ("好了", True),
    ("解决", True),
)
#: Answers to the 回访 "has it come back?" (recurred first).
_FOLLOW_UP_WORDS = (
    ("又出现了", True),
    ("又出现", True),
    ("又坏了", True),
    ("又有了", True),
    ("还是老样子", True),
    ("没再出现", False),
    ("没有再出现", False),
    ("没出现", False),
    ("没有了", False),
    ("挺好", False),
)
_RATING_WORDS = (
    ("不满意", "unsatisfied"),
    ("不太满意", "unsatisfied"),
    ("很不满意", "unsatisfied"),
    ("基本满意", "basically_satisfied"),
    ("还行", "basically_satisfied"),
    ("一般", "basically_satisfied"),
    ("非常满意", "satisfied"),
    ("很满意", "satisfied"),
    ("满意", "satisfied"),
)
#: How residents confirm a summary or say yes, after punctuation and courtesy are stripped;
#: the classifier's ``affirm`` covers the rest.
_YES_WORDS = frozenset(
    [
        "对",
        "对的",
        "对对",
        "对对对",
        "是",
        "是的",
        "是滴",
        "是啊",
        "没错",
        "没问题",
        "确认",
        "确定",
        "提交",
        "确认提交",
        "可以",
        "行",
        "好",
        "好的",
        "好滴",
        "嗯",
        "嗯嗯",
        "嗯对",
        "中",
        "要得",
        "对头",
        "ok",
        "没毛病",
        "就这样",
        "对就这样",
        "确认无误",
        "无误",
        "同意",
    ]
)
_COURTESY_RE = re.compile(r"^(?:您好|你好)+|(?:谢谢(?:你们?|您)?|麻烦(?:你们?|您)?了?|辛苦了)+$")
_PUNCT_RE = re.compile(r"[\s，,。.！!？?～~、；;：:…]+")
_CHOICE_WORDS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CHOICE_RE = re.compile(r"^\s*(?:第)?([1-5一二两三四五])(?:个|项|条|号)?\s*[。.!！]?\s*$")
_CORRECTION_RE = re.compile(
    r"(?:是|改成|改为|应该是|换成)\s*(?P<new>[^，,。；;！!]+?)\s*(?:[，,]?\s*不是\s*(?P<old>[^，,。；;！!]+))?$"
)
_CORRECTION_NOT_FIRST_RE = re.compile(
    r"不是\s*(?P<old>[^，,。；;！!]+?)\s*[，,]?\s*(?:是|而是)\s*(?P<new>[^，,。；;！!]+)$"
)
_SLOT_HINTS = {
    "location": ("地址", "位置", "地点", "地方", "门牌", "栋", "楼", "小区", "路"),
    "phone": ("电话", "手机", "号码", "联系方式"),
    "description": ("描述", "问题", "情况", "内容"),
}
# A safety net under the classifier: these phrases are emergencies whatever it says.
_EMERGENCY_RE = re.compile(
    r"救命|快来人|(?:被|人)困(?:在)?(?:电梯|里面)|困在电梯|着火|起火|火灾|冒烟了|燃气泄漏|煤气泄漏|"
    r"天然气泄漏|闻到(?:很大的)?(?:燃气|煤气)味|有人(?:受伤|晕倒|昏迷|掉进|落水|溺水|被砸|触电|跳楼)|"
    r"砸到人|压到人|触电了"
)
_EMERGENCY_CATEGORIES = (
    (("电梯",), "report.elevator"),
    (("电动车", "电瓶车", "充电"), "report.ebike_charging"),
    (("井盖", "掉进井", "窨井"), "report.manhole"),
    (("树",), "report.greenery"),
    (("下水道", "积水", "淹"), "report.drainage"),
)


# -- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One resident message as the policy sees it (built from the NLU parse)."""

    kind: str = "text"  # text (and recognised voice), location, image, subscribe, click
    text: str = ""
    intent: str = "out_of_scope"
    confidence: float = 0.0
    entities: tuple[Mapping[str, Any], ...] = ()
    faq: Mapping[str, Any] | None = None
    fallback: str | None = None
    location_label: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    photo: str | None = None
    event_key: str | None = None
    #: how sure the NLU is that this is a complaint of some kind (its report intents' share)
    report_confidence: float = 0.0

    @classmethod
    def from_parse(cls, parse: Mapping[str, Any], **extra: Any) -> Turn:
        intent = parse.get("intent") or {}
        ranking = parse.get("intent_ranking") or ()
        return cls(
            text=str(parse.get("text") or ""),
            intent=str(intent.get("name") or "out_of_scope"),
            confidence=float(intent.get("confidence") or 0.0),
            entities=tuple(parse.get("entities") or ()),
            faq=parse.get("faq"),
            fallback=parse.get("fallback"),
            report_confidence=sum(
                float(r.get("confidence") or 0.0)
                for r in ranking
                if str(r.get("name") or "").startswith("report.")
            ),
            **extra,
        )

    def entity(self, name: str) -> str | None:
        for entity in self.entities:
            if entity.get("entity") == name:
                return str(entity.get("value"))
        return None

    def is_(self, *intents: str, at_least: float = ACT_CONFIDENCE) -> bool:
        return self.intent in intents and self.confidence >= at_least

    @property
    def understood(self) -> bool:
        return (self.confidence >= ACT_CONFIDENCE or self.a_complaint) and self.fallback is None

    @property
    def a_complaint(self) -> bool:
        """Surely a complaint, though of which category is less sure ("水渠堵了" drainage or
        agriculture): acted on as its likeliest category, which the summary shows and the
        dispatch desk can correct. A problem of public life is never "not understood"."""
        return (
            self.intent.startswith("report.")
            and self.fallback is None
            and self.report_confidence >= ACT_CONFIDENCE
        )


LocationVerdict = Literal["place", "vague", "not_place"]


@dataclass(frozen=True, slots=True)
class LocationReading:
    """How the NLU reads words as a place (``nlu.address.read_location_answer``).

    ``place``: somewhere a person can be sent (an estate and building, a crossing, a named
    landmark); ``vague``: a place with nothing to find it by (这边, 我家楼下, a road alone);
    ``not_place``: no place at all (a number, a phone number, 对, 不知道). ``value`` is what
    to store: the resident's own words for the place, without filler or a phone number.
    """

    verdict: LocationVerdict
    value: str | None = None


@dataclass(frozen=True, slots=True)
class FAQEntry:
    """A curated answer (admins edit these; the policy only reads them)."""

    title: str
    answer: str


@dataclass(frozen=True, slots=True)
class NearbyProblem:
    """An open ticket about the same problem at the same place as the case being
    confirmed (its problem cluster): ``residents`` others reported or follow it;
    ``mine``: this resident already did."""

    ticket_id: str
    residents: int
    status: str
    mine: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What the bot layer knows about the resident and the world, as data; ``read_location``
    is how the NLU reads words as a place (``nlu.address.read_location_answer``)."""

    read_location: Callable[[str], LocationReading]
    faq: Mapping[str, FAQEntry] = field(default_factory=dict)
    category_labels: Mapping[str, str] = field(default_factory=dict)
    known_phone: str | None = None
    #: ids of this resident's resolved tickets awaiting the satisfaction answer, newest
    #: first (those answered "solved" before those not asked yet)
    awaiting_rating: tuple[str, ...] = ()
    #: ids of resolved tickets whose resident has not said yet whether it is solved
    awaiting_solved: tuple[str, ...] = ()
    #: ids of closed tickets whose 回访 question waits for an answer
    awaiting_follow_up: tuple[str, ...] = ()
    #: while confirming a case: an open ticket already covering it (looked up by the bot)
    nearby: NearbyProblem | None = None

    def label(self, category: str) -> str:
        return self.category_labels.get(category, category)


# -- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateTicket:
    """File the confirmed case; the bot replies with the ticket id as the API shows it."""

    case: Case


@dataclass(frozen=True, slots=True)
class FollowTicket:
    """Instead of filing the case, follow ``ticket_id`` (an open ticket about the same
    problem): the resident gets its status pushes and counts as one more resident; their
    words are kept with the follow."""

    ticket_id: str
    case: Case


@dataclass(frozen=True, slots=True)
class QueryStatus:
    """List the resident's open tickets (or the one with ``ticket_id``)."""

    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class StartHandoff:
    """Put the conversation in the staff queue; the bot stays silent until staff close it."""

    reason: str  # requested, misunderstood, upset, stuck


@dataclass(frozen=True, slots=True)
class RateTicket:
    """Record the resident's satisfaction (满意 / 基本满意 / 不满意): after "solved",
    不满意 goes to a supervisor's review; without that answer it reopens one level up."""

    ticket_id: str
    rating: str  # satisfied, basically_satisfied, unsatisfied
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerSolved:
    """Record the answer to "was it solved?"; not solved reopens the ticket to the same
    department with the resident's ``words``."""

    ticket_id: str
    solved: bool
    words: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerFollowUp:
    """Record the answer to the 回访; ``recurred`` files a new ticket linked to it."""

    ticket_id: str
    recurred: bool
    words: str | None = None


Action = (
    CreateTicket
    | FollowTicket
    | QueryStatus
    | StartHandoff
    | RateTicket
    | AnswerSolved
    | AnswerFollowUp
)


@dataclass(slots=True)
class Decision:
    """Replies before the actions' results, the actions, replies after them, the new state.

    ``answered`` says the message was understood in its context: it answered the question
    the bot had asked (a place, a phone number, a confirmation, a numbered choice), whatever
    the classifier made of the words alone. Such messages are not "not understood".
    """

    state: DialogueState
    replies: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    answered: bool = False

    def say(self, *texts: str) -> Decision:
        self.replies.extend(t for t in texts if t)
        return self


# -- the policy ----------------------------------------------------------------------------


def decide(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    """The next step of the conversation (``state`` itself is never modified)."""
    state = state.copy()
    if turn.kind == "subscribe":
        return Decision(state).say(msg.WELCOME)
    if turn.kind == "click":
        return _menu_click(state, turn)
    if turn.kind == "image":
        return _photo(state, turn)
    if turn.kind == "location":
        return _location_message(state, turn, ctx)

    if turn.is_("emergency", at_least=0.5) or _EMERGENCY_RE.search(turn.text):
        return _emergency(turn)
    if _upset(turn.text):
        return _handoff(state, "upset", msg.HANDOFF_UPSET)
    if turn.is_("human_handoff", at_least=0.55):
        return _handoff(state, "requested", msg.HANDOFF_STARTED)
    after_closure = _after_closure(state, turn, ctx)
    if after_closure is not None:
        return after_closure

    if state.mode == "choosing_faq":
        chosen = read_choice(turn.text, state.faq_choices)
        idle = replace(state, mode="idle", faq_choices=[])
        if chosen is not None:
            decision = _answer_faq(idle, chosen, ctx)
            decision.answered = True
            return decision
        state = idle
    if state.mode == "offer_urgent" and state.case is not None:
        if _is_yes(turn):
            decision = _next_question(replace(state, mode="collecting"), ctx)
            decision.answered = True
            return decision
        if turn.is_("deny", "cancel"):
            return Decision(DialogueState(), answered=True).say(msg.URGENT_DECLINED)
        state = DialogueState()
    if state.mode == "offer_follow" and state.case is not None and state.follow_ticket:
        return _offer_follow(state, turn, ctx)
    if state.case is not None and state.mode in ("collecting", "reuse_phone", "confirming"):
        return _in_form(state, turn, ctx)
    return _fresh(state, turn, ctx)


def _fresh(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    """Nothing under way: act on the intent."""
    state = replace(state, mode="idle", case=None, asking=None)
    place = _only_a_place(turn, ctx)
    if place is not None:
        # "幸福小区3号楼东门" on its own: where, but not what — kept for the report to come.
        new = replace(state, pending_location=place, pending_latitude=None, pending_longitude=None)
        return Decision(new, answered=True).say(msg.place_received(place))
    if not turn.understood or turn.intent == "out_of_scope":
        faq = _faq_offer(turn, ctx, loose=True)
        if faq is not None:
            return faq
        return _misunderstood(state, turn)
    state = replace(state, misunderstood=0)
    intent = turn.intent
    if intent.startswith("report."):
        return _start_case(state, turn, ctx)
    if intent.startswith("faq."):
        return _faq(state, turn, ctx)
    if intent == "status_query":
        return Decision(state, actions=[QueryStatus(turn.entity("ticket_id"))])
    if intent == "greet":
        return Decision(state).say(msg.GREETING)
    if intent == "thanks":
        return Decision(state).say(msg.THANKS)
    if intent == "goodbye":
        return Decision(state).say(msg.GOODBYE)
    if intent == "cancel":
        return Decision(state).say(msg.NOTHING_TO_CANCEL)
    return Decision(state).say(msg.GREETING)  # affirm/deny with nothing to confirm


def _misunderstood(state: DialogueState, turn: Turn) -> Decision:
    count = state.misunderstood + 1
    if count >= 2:
        return _handoff(
            replace(state, misunderstood=0), "misunderstood", msg.HANDOFF_AFTER_MISUNDERSTANDING
        )
    reply = (
        msg.OUT_OF_SCOPE
        if turn.intent == "out_of_scope" and turn.understood
        else (msg.NOT_UNDERSTOOD)
    )
    return Decision(replace(state, misunderstood=count)).say(reply)


def _handoff(state: DialogueState, reason: str, reply: str) -> Decision:
    return Decision(state, actions=[StartHandoff(reason)]).say(reply)


# -- FAQ -----------------------------------------------------------------------------------


def _faq_candidates(turn: Turn, ctx: Context) -> list[tuple[str, float]]:
    faq = turn.faq or {}
    found: list[tuple[str, float]] = []
    if faq.get("topic"):
        found.append((str(faq["topic"]), float(faq.get("score") or 0.0)))
    for alt in faq.get("alternatives") or ():
        found.append((str(alt["topic"]), float(alt.get("score") or 0.0)))
    seen: set[str] = set()
    unique = []
    for topic, score in found:
        if topic in ctx.faq and topic not in seen:
            seen.add(topic)
            unique.append((topic, score))
    return unique


def _faq(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    candidates = _faq_candidates(turn, ctx)
    best = turn.intent if turn.intent in ctx.faq else (candidates[0][0] if candidates else None)
    if best is None:
        return Decision(state).say(msg.NOT_UNDERSTOOD)
    close = [t for t, s in candidates[1:3] if candidates and candidates[0][1] - s <= FAQ_CLOSE]
    if turn.confidence < FAQ_ANSWER:
        close = close or [t for t, s in candidates[1:3] if s >= FAQ_OFFER]
    if not close or turn.confidence >= FAQ_SURE:
        return _answer_faq(state, best, ctx)
    options = [best, *[t for t in close if t != best]][:3]
    return _offer_choices(state, options, ctx)


def _faq_offer(turn: Turn, ctx: Context, *, loose: bool) -> Decision | None:
    """An unclear message that resembles FAQ topics: offer them rather than a dead end."""
    candidates = _faq_candidates(turn, ctx)
    if not loose or not candidates or candidates[0][1] < 0.3:
        return None
    options = [t for t, s in candidates[:3] if s >= candidates[0][1] - 2 * FAQ_CLOSE]
    return _offer_choices(DialogueState(), options, ctx)


def _offer_choices(state: DialogueState, topics: Sequence[str], ctx: Context) -> Decision:
    titles = [ctx.faq[t].title for t in topics]
    new = replace(state, mode="choosing_faq", faq_choices=list(topics))
    return Decision(new).say(msg.faq_choices(titles))


def _answer_faq(state: DialogueState, topic: str, ctx: Context) -> Decision:
    entry = ctx.faq[topic]
    return Decision(replace(state, misunderstood=0)).say(msg.faq_answer(entry.title, entry.answer))


def read_choice(text: str, options: Sequence[str]) -> str | None:
    """The option a resident picked by number (``1``, ``第二个``, ``二``), if any."""
    match = _CHOICE_RE.match(text)
    if not match:
        return None
    raw = match.group(1)
    index = int(raw) if raw.isdigit() else _CHOICE_WORDS[raw]
    return options[index - 1] if 1 <= index <= len(options) else None


# -- emergencies, photos, locations, menu --------------------------------------------------


def _emergency(turn: Turn) -> Decision:
    category = next(
        (cat for words, cat in _EMERGENCY_CATEGORIES if any(w in turn.text for w in words)),
        "report.other",
    )
    case = Case(category=category, description=turn.text, urgent=True)
    _fill_from_entities(case, turn, lambda text: LocationReading("place", text))
    state = DialogueState(mode="offer_urgent", case=case)
    return Decision(state).say(msg.emergency_guidance(turn.text))


def _photo(state: DialogueState, turn: Turn) -> Decision:
    if not turn.photo:
        return Decision(state).say(msg.UNSUPPORTED)
    if state.case is not None and state.mode in ("collecting", "reuse_phone", "confirming"):
        state.case.photos.append(turn.photo)
        decision = Decision(state).say(msg.PHOTO_ATTACHED)
        if state.mode == "confirming":
            return decision
        question = _question_for(state)
        return decision.say(question) if question else decision
    new = replace(state, pending_photos=[*state.pending_photos, turn.photo][-9:])
    return Decision(new).say(msg.PHOTO_WITHOUT_CASE)


def _location_message(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    label = (turn.location_label or "").strip()
    if state.case is not None and state.mode in ("collecting", "reuse_phone", "confirming"):
        case = state.case
        if label:
            case.location = label
            case.latitude, case.longitude = turn.latitude, turn.longitude
        if state.mode == "confirming":
            return _confirm(state, ctx, prefix=msg.slot_updated("location"))
        return _next_question(state, ctx)
    new = replace(
        state,
        pending_location=label or None,
        pending_latitude=turn.latitude if label else None,
        pending_longitude=turn.longitude if label else None,
    )
    return Decision(new).say(msg.place_received(label or "您发送的位置"))


def _only_a_place(turn: Turn, ctx: Context) -> str | None:
    """The place, when a message says nothing but where (no problem, no question)."""
    text = turn.text.strip()
    if not text or turn.kind != "text" or turn.is_("emergency"):
        return None
    # The free-text reading (the address entity) must cover the message, not only the
    # lenient reading of an answer: "紫薇苑7栋化粪池满溢" is a place and a problem.
    address = turn.entity("address")
    if not address or len(address) < 0.85 * len(text.rstrip("。.！!")):
        return None
    reading = ctx.read_location(address)
    return reading.value if reading.verdict == "place" and reading.value else None


def _menu_click(state: DialogueState, turn: Turn) -> Decision:
    key = (turn.event_key or "").upper()
    if key.endswith("STATUS"):
        return Decision(state, actions=[QueryStatus()])
    if key.endswith("HUMAN"):
        return _handoff(state, "requested", msg.HANDOFF_STARTED)
    if key.endswith("REPORT"):
        return Decision(state).say(msg.ASK_REPORT)
    return Decision(state).say(msg.GREETING)


# -- the case form -------------------------------------------------------------------------


def _start_case(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    case = Case(category=turn.intent, description=turn.text.strip() or None)
    case.photos.extend(state.pending_photos)
    if state.pending_location:
        # A location message: WeChat's own map pin, with coordinates; no need to ask.
        case.location = state.pending_location
        case.latitude, case.longitude = state.pending_latitude, state.pending_longitude
    _fill_from_entities(case, turn, ctx.read_location)
    new = DialogueState(mode="collecting", case=case)
    return _next_question(new, ctx, prefix=msg.case_started(ctx.label(case.category)))


def _fill_from_entities(
    case: Case,
    turn: Turn,
    read_location: Callable[[str], LocationReading],
    *,
    places: bool = True,
) -> list[str]:
    """Take every slot the message already carries; returns the slots filled.

    A place is taken when it is somewhere a person can be sent (the first such place of
    the message); a vague one ("小区门口") leaves the slot to be asked. With ``places``
    false only the phone is taken (the caller reads the whole message as the place).
    """
    filled = []
    phone = turn.entity("phone")
    if phone:
        case.phone = phone
        filled.append("phone")
    for entity in turn.entities if places else ():
        if entity.get("entity") != "address":
            continue
        reading = read_location(str(entity.get("value") or ""))
        if reading.verdict == "place" and reading.value:
            case.location = reading.value
            filled.append("location")
            break
    return filled


def _question_for(state: DialogueState) -> str | None:
    case = state.case
    if case is None or not case.missing():
        return None
    return msg.ask_slot(case.missing()[0])


def _next_question(
    state: DialogueState, ctx: Context, *, prefix: str = "", not_a_place: bool = False
) -> Decision:
    case = state.case
    assert case is not None
    missing = case.missing()
    if not missing:
        return _confirm(state, ctx, prefix=prefix)
    slot = missing[0]
    if slot == "phone" and ctx.known_phone:
        new = replace(state, mode="reuse_phone", asking="phone")
        return Decision(new).say(prefix, msg.ask_reuse_phone(ctx.known_phone))
    failures = case.failures.get(slot, 0)
    if slot == "location" and not_a_place and failures:
        question = msg.LOCATION_NOT_A_PLACE
    else:
        question = msg.ask_slot(slot, retry=failures > 0)
    if failures >= 2:
        question += "\n" + msg.OFFER_PERSON
    new = replace(state, mode="collecting", asking=slot)
    return Decision(new).say(prefix, question)


def _confirm(state: DialogueState, ctx: Context, *, prefix: str = "") -> Decision:
    case = state.case
    assert case is not None and case.location and case.description and case.phone
    summary = msg.case_summary(
        ctx.label(case.category),
        case.location,
        case.description,
        case.phone,
        urgent=case.urgent,
        photos=len(case.photos),
    )
    return Decision(replace(state, mode="confirming", asking=None)).say(prefix, summary)


def _interruption(state: DialogueState, turn: Turn, ctx: Context) -> Decision | None:
    """A question or greeting in the middle of the form: answer it, then resume."""
    if turn.is_("cancel", at_least=0.6):
        return Decision(DialogueState()).say(msg.CANCELLED)
    answer: Decision | None = None
    if turn.intent.startswith("faq.") and turn.confidence >= INTERRUPT_CONFIDENCE:
        answer = _answer_faq(state, turn.intent, ctx) if turn.intent in ctx.faq else None
    elif turn.is_("status_query", at_least=INTERRUPT_CONFIDENCE):
        answer = Decision(state, actions=[QueryStatus(turn.entity("ticket_id"))])
    elif turn.is_("greet", "thanks", at_least=INTERRUPT_CONFIDENCE):
        answer = Decision(state).say("您好！" if turn.intent == "greet" else "不客气。")
    if answer is None:
        return None
    resume = _resume_prompt(state, ctx)
    answer.after.append(resume)
    return answer


def _resume_prompt(state: DialogueState, ctx: Context) -> str:
    if state.mode == "confirming":
        return msg.RESUME + msg.CONFIRM_PENDING
    if state.mode == "reuse_phone" and ctx.known_phone:
        return msg.RESUME + msg.ask_reuse_phone(ctx.known_phone)
    question = _question_for(state)
    return msg.RESUME + (question or "")


def _answers_question(state: DialogueState, turn: Turn, ctx: Context) -> bool:
    """Whether the message carries what the bot just asked for: then it is the answer, even
    when the words alone read like something else ("138 7490 2613" like a ticket number)."""
    if state.asking == "phone" or state.mode == "reuse_phone":
        # Digits are an attempt at the number, even a wrong one ("12345").
        return turn.entity("phone") is not None or any(ch.isdigit() for ch in turn.text)
    if state.asking == "location" and (text := turn.text.strip()):
        return ctx.read_location(text).verdict == "place"  # the words _collect reads
    return False


def _in_form(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    if not _answers_question(state, turn, ctx):
        interrupted = _interruption(state, turn, ctx)
        if interrupted is not None:
            return interrupted
    case = state.case
    assert case is not None
    if state.mode == "confirming":
        return _confirming(state, turn, ctx)
    if state.mode == "reuse_phone":
        if _is_yes(turn) and ctx.known_phone and not turn.entity("phone"):
            case.phone = ctx.known_phone
            decision = _next_question(replace(state, mode="collecting"), ctx)
            decision.answered = True
            return decision
        if turn.is_("deny") and not turn.entity("phone"):
            new = replace(state, mode="collecting", asking="phone")
            return Decision(new, answered=True).say(msg.ask_slot("phone"))
        state = replace(state, mode="collecting", asking="phone")
    return _collect(state, turn, ctx)


#: Answers to one question that were no use before the conversation goes to a person.
STUCK_AFTER = 3


def _collect(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    case = state.case
    assert case is not None
    slot = state.asking
    # Asked where, the whole answer is read as the place ("阳光100国际新城3栋" entire, not
    # the part a free-text scan would pick out of it).
    filled = _fill_from_entities(case, turn, ctx.read_location, places=slot != "location")
    text = turn.text.strip()
    not_a_place = False
    if slot == "location" and text:
        reading = ctx.read_location(text)
        if reading.verdict == "place" and reading.value:
            case.location = reading.value
            filled.append(slot)
        elif reading.verdict == "vague" and reading.value and case.failures.get(slot, 0):
            # Asked once more and still only "我家楼下": take it rather than trap the
            # resident; the phone number lets staff call for the rest.
            case.location = reading.value
            filled.append(slot)
        else:
            not_a_place = reading.verdict == "not_place"
    elif slot == "description" and slot not in filled and len(text) >= 2:
        case.description = text
        filled.append(slot)
    if slot and slot not in filled:
        case.failures[slot] = case.failures.get(slot, 0) + 1
        if case.failures[slot] >= STUCK_AFTER:
            return _handoff(replace(state, mode="idle"), "stuck", msg.HANDOFF_STUCK)
    decision = _next_question(state, ctx, not_a_place=not_a_place)
    decision.answered = bool(filled)
    return decision


def _confirming(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    case = state.case
    assert case is not None
    corrected = _correction(case, turn, ctx)
    if corrected is not None:
        slot, accepted = corrected
        if accepted:
            decision = _confirm(state, ctx, prefix=msg.slot_updated(slot))
            decision.answered = True
            return decision
        setattr(case, slot, None)
        new = replace(state, mode="collecting", asking=slot)
        return Decision(new, answered=True).say(msg.ask_slot(slot))
    if _is_yes(turn):
        nearby = ctx.nearby
        if nearby is not None:
            # Said before filing, never instead of it: the resident chooses (no silent merge).
            offer = DialogueState(mode="offer_follow", case=case, follow_ticket=nearby.ticket_id)
            text = msg.nearby_problem(
                nearby.residents, nearby.ticket_id, nearby.status, mine=nearby.mine
            )
            return Decision(offer, answered=True).say(text)
        return Decision(DialogueState(), actions=[CreateTicket(case)], answered=True)
    if turn.is_("deny"):
        return Decision(state, answered=True).say(msg.ASK_WHAT_TO_CHANGE)
    return Decision(state).say(msg.CONFIRM_REMINDER)


_FOLLOW_WORDS = ("关注", "跟进", "同一个", "一样的", "就是这个", "是这个")
# Checked first: "不是同一个" contains "同一个".
_SEPARATE_WORDS = (
    "单独", "分开", "另外", "重新", "不一样", "不是同一个", "不是这个", "新的", "再提交",
)


def _offer_follow(state: DialogueState, turn: Turn, ctx: Context) -> Decision:
    """An open ticket covers the confirmed case: "1" follows it, "2" files the case."""
    case = state.case
    ticket_id = state.follow_ticket
    assert case is not None and ticket_id is not None
    text = _PUNCT_RE.sub("", turn.text.strip())
    choice = read_choice(text, ("follow", "separate"))
    if choice is None and text:
        if any(w in text for w in _SEPARATE_WORDS) or turn.is_("deny"):
            choice = "separate"
        elif any(w in text for w in _FOLLOW_WORDS) or _is_yes(turn):
            choice = "follow"
    if choice == "follow":
        return Decision(DialogueState(), actions=[FollowTicket(ticket_id, case)], answered=True)
    if choice == "separate":
        return Decision(DialogueState(), actions=[CreateTicket(case)], answered=True)
    if turn.is_("cancel", at_least=0.6) or text in ("取消", "不用了", "算了"):
        return Decision(DialogueState(), answered=True).say(msg.CANCELLED)
    interrupted = _interruption(state, turn, ctx)
    if interrupted is not None:
        if interrupted.after:
            interrupted.after[-1] = msg.RESUME + msg.FOLLOW_REMINDER
        return interrupted
    return Decision(state).say(msg.FOLLOW_REMINDER)


def _correction(case: Case, turn: Turn, ctx: Context) -> tuple[str, bool] | None:
    """Which slot the resident corrects, and whether the new value could be taken."""
    text = turn.text.strip()
    phone = turn.entity("phone")
    if phone and phone != case.phone:
        case.phone = phone
        return "phone", True
    slot = next((s for s, hints in _SLOT_HINTS.items() if any(h in text for h in hints)), None)
    negated = any(w in text for w in ("不对", "错了", "不是", "改", "换"))
    if slot is None or not negated:
        return None
    if slot == "phone":
        return "phone", False  # said the phone is wrong without a valid new one
    new, old = read_replacement(text)
    current = getattr(case, slot) or ""
    if new and old and old in current:
        setattr(case, slot, current.replace(old, new, 1))
        return slot, True
    for candidate in (turn.entity("address"), new):
        reading = ctx.read_location(candidate) if slot == "location" and candidate else None
        if reading is not None and reading.verdict == "place" and reading.value:
            case.location = reading.value
            return slot, True
    if new and slot == "description" and len(new) >= 2:
        case.description = new
        return slot, True
    return slot, False


def read_replacement(text: str) -> tuple[str | None, str | None]:
    """``地址不对，是8栋不是6栋`` → ``("8栋", "6栋")``; ``不是6栋，是8栋`` likewise."""
    match = _CORRECTION_NOT_FIRST_RE.search(text)
    if match is None:
        clauses = [c.strip() for c in re.split(r"[，,。；;]", text) if c.strip()]
        for candidate in (*reversed(clauses), text):
            match = _CORRECTION_RE.search(candidate)
            if match:
                break
    if match is None:
        return None, None
    new = (match.group("new") or "").strip() or None
    old = (match.groupdict().get("old") or "").strip() or None
    return new, old


def _is_yes(turn: Turn) -> bool:
    """A yes to the question just asked: the classifier's ``affirm``, or one of the words
    people confirm with ("对", "是的", "没问题", "好的提交吧"), courtesy and punctuation aside."""
    if turn.is_("affirm"):
        return True
    words = _COURTESY_RE.sub("", _PUNCT_RE.sub("", turn.text.strip().lower()))
    words = words.removesuffix("吧").removesuffix("啊").removesuffix("呀")
    return words in _YES_WORDS or words.removesuffix("提交") in _YES_WORDS


# -- moods and ratings ---------------------------------------------------------------------


def _upset(text: str) -> bool:
    return any(word in text for word in _UPSET_WORDS)


def _after_closure(state: DialogueState, turn: Turn, ctx: Context) -> Decision | None:
    """The resident answering what the bot asked after 办结 (解决, then 满意) or at the
    回访; ``None`` when the message is not such an answer. Short words such as 没有 or 好了
    answer "was it solved?" only when no question of the conversation is open (in a form
    they answer the form)."""
    idle = state.mode == "idle"
    solved = read_solved(turn.text) if ctx.awaiting_solved and idle else None
    if solved is not None:
        is_solved, words = solved
        answer = AnswerSolved(ctx.awaiting_solved[0], is_solved, words)
        return Decision(state, actions=[answer]).say(
            msg.SOLVED_ASK_RATING if is_solved else msg.UNSOLVED_REOPENED
        )
    rating = read_rating(turn.text) if ctx.awaiting_rating else None
    if rating is not None:
        value, reason = rating
        ticket_id = ctx.awaiting_rating[0]
        if value != "unsatisfied":
            reply = msg.RATING_THANKS
        elif ticket_id in ctx.awaiting_solved:
            reply = msg.RATING_REOPENED  # dissatisfied before saying it was solved
        else:
            reply = msg.RATING_SUPERVISED
        return Decision(state, actions=[RateTicket(ticket_id, value, reason)]).say(reply)
    follow_up = read_follow_up(turn.text) if ctx.awaiting_follow_up and idle else None
    if follow_up is not None:
        recurred, said = follow_up
        again = AnswerFollowUp(ctx.awaiting_follow_up[0], recurred, said)
        return Decision(state, actions=[again]).say(
            msg.FOLLOW_UP_RECURRED if recurred else msg.FOLLOW_UP_THANKS
        )
    return None


def _short_answer(
    text: str, words: tuple[tuple[str, bool], ...], limit: int = 12
) -> tuple[bool, str | None] | None:
    """One of ``words`` leading a short message (or making up most of it), with what
    follows it as the resident's own words."""
    stripped = text.strip().strip("。.！!，,")
    if stripped.endswith(("吗", "?", "？", "呢")):
        return None  # a question back, not an answer
    for word, value in words:
        if stripped.startswith(word) or (word in stripped and len(stripped) <= limit):
            rest = stripped.split(word, 1)[1].strip(" ，,。.！!：:") if word in stripped else ""
            own = stripped if (len(stripped) > len(word) and not rest) else rest
            return value, (own or None)
    return None


def read_solved(text: str) -> tuple[bool, str | None] | None:
    """``没解决，灯还是不亮`` → ``(False, "灯还是不亮")``; ``已解决`` → ``(True, None)``;
    ``None`` when the text does not answer "was it solved?"."""
    if len(text.strip()) > 40:
        return None  # a new complaint, not an answer
    return _short_answer(text, _SOLVED_WORDS)


def read_follow_up(text: str) -> tuple[bool, str | None] | None:
    """``又出现了，晚上又不亮`` → ``(True, "晚上又不亮")``; ``没再出现`` → ``(False, None)``."""
    if len(text.strip()) > 40:
        return None
    return _short_answer(text, _FOLLOW_UP_WORDS)


def looks_like_after_closure(text: str) -> bool:
    """Whether ``text`` may answer a question asked after 办结 or at the 回访 (so the bot
    looks up the resident's tickets)."""
    return (
        read_rating(text) is not None
        or read_solved(text) is not None
        or read_follow_up(text) is not None
    )


def looks_like_rating(text: str) -> bool:
    """Whether ``text`` reads as a rating (so the bot looks up tickets awaiting one)."""
    return read_rating(text) is not None


def read_rating(text: str) -> tuple[str, str | None] | None:
    """``不满意，路灯还是不亮`` → ``("unsatisfied", "路灯还是不亮")``; ``None`` when the
    text is not a rating (a complaint that merely mentions 不满意 is not one)."""
    stripped = text.strip()
    for word, value in _RATING_WORDS:
        if stripped.startswith(word) or (word in stripped and len(stripped) <= 8):
            reason = stripped.split(word, 1)[1].strip(" ，,。.！!：:") if word in stripped else ""
            return value, (reason or None)
    return None
