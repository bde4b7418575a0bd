"""Conversation scripts for the load generator: what simulated residents say, and what the
reply to each turn must contain.

Every script comes from conversations the story tests (``tests/stories/*.yml``) show to
work, with the building number, house number and phone varied per resident so the NLU and
the database see different texts. Within one resident no text repeats: a resident line
that shows up twice in the chat log therefore means a message was processed twice.

Kinds: ``faq`` (one to three questions from the knowledge base), ``complaint`` (a report
filled slot by slot over three or four turns, ending in 确认 and a ticket number, sometimes
followed by a status question that must name that ticket), ``status`` (a status question
from a resident with no ticket), ``chitchat`` (greetings, thanks and menu clicks).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "KINDS",
    "MIXES",
    "TICKET_RE",
    "Scenario",
    "Step",
    "assign_kinds",
    "build_scenario",
    "check_reply",
]

StepKind = Literal["text", "click", "location"]
Kind = Literal["faq", "complaint", "status", "chitchat"]
KINDS: tuple[Kind, ...] = ("faq", "complaint", "status", "chitchat")

#: Share of residents (conversations) of each kind.
MIXES: dict[str, dict[Kind, float]] = {
    "faq": {"faq": 1.0},
    "mixed": {"faq": 0.40, "complaint": 0.35, "status": 0.15, "chitchat": 0.10},
}

TICKET_RE = re.compile(r"工单号：(\d{8}-\d{4})")


@dataclass(frozen=True, slots=True)
class Step:
    """One message and what its reply must contain (every string of ``expect``).

    ``files_ticket``: the confirmation; the reply must carry a ticket number.
    ``names_own_ticket``: a status question; the reply must name the ticket filed earlier.
    """

    kind: StepKind
    content: str
    expect: tuple[str, ...] = ()
    files_ticket: bool = False
    names_own_ticket: bool = False

    @property
    def retriable(self) -> bool:
        """Messages carry a MsgId that WeChat retries with; events are keyed differently."""
        return self.kind != "click"


@dataclass(frozen=True, slots=True)
class Scenario:
    kind: Kind
    name: str
    steps: tuple[Step, ...]

    @property
    def files_ticket(self) -> bool:
        return any(step.files_ticket for step in self.steps)


def check_reply(step: Step, reply: str | None, own_ticket: str | None) -> str | None:
    """None when ``reply`` is what ``step`` expects, else a short reason."""
    if reply is None:
        return "no reply"
    missing = [part for part in step.expect if part not in reply]
    if missing:
        return f"missing {missing}"
    if step.files_ticket and not TICKET_RE.search(reply):
        return "no ticket number"
    if step.names_own_ticket and (own_ticket is None or own_ticket not in reply):
        return f"does not name ticket {own_ticket}"
    return None


def _text(content: str, *expect: str) -> Step:
    return Step("text", content, expect)


def _confirm(content: str = "确认") -> Step:
    return Step("text", content, files_ticket=True)


def _masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


# -- FAQ ----------------------------------------------------------------------------------

_FAQ_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("医保电子凭证怎么激活", "医保电子凭证"),
    ("我的社保卡丢了怎么办", "社保卡"),
    ("去外地看病要先备案吗", "异地就医"),
    ("低保怎么申请，需要什么材料", "低保"),
    ("醫保電子憑證怎麼激活", "医保电子凭证"),
    ("新生儿怎么办医保", "新生儿"),
    ("高龄津贴怎么申请", "高龄"),
)


def _faq(rng: random.Random, n: int) -> Scenario:
    if rng.random() < 0.15:
        steps = (
            _text("刚生了孩子", "请回复序号"),
            _text("第二个", "【新生儿出生“一件事”联办】"),
        )
        return Scenario("faq", "faq:numbered-choice", steps)
    count = rng.choice((1, 1, 2, 3))
    picked = rng.sample(_FAQ_QUESTIONS, count)
    return Scenario("faq", f"faq:{count}-questions", tuple(_text(q, a) for q, a in picked))


# -- complaints ---------------------------------------------------------------------------


def _complaint_slot_by_slot(n: int, phone: str) -> tuple[str, tuple[Step, ...]]:
    place = f"幸福小区{n % 30 + 1}号楼东门"
    return "complaint:streetlight-slot-by-slot", (
        _text("路灯坏了", "什么位置"),
        _text(place, "联系电话"),
        _text(phone, "请核对", place),
        _confirm(),
    )


def _complaint_manhole(n: int, phone: str) -> tuple[str, tuple[Step, ...]]:
    number = n % 200 + 1
    return "complaint:manhole-place-and-phone", (
        _text("我们这边的井盖丢了，很危险", "什么位置"),
        _text(
            f"在人民路{number}号门口，电话{phone}", "请核对", f"人民路{number}号", _masked(phone)
        ),
        _confirm("对的"),
    )


def _complaint_location(n: int, phone: str) -> tuple[str, tuple[Step, ...]]:
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return "complaint:drainage-wechat-location", (
        _text("下水道堵了，污水都冒出来了", "什么位置"),
        Step("location", f"北京市朝阳区望京街道花家地北里{n % 20 + 1}号楼", ("联系电话",)),
        _text(f"我的电话是 {spaced}", "请核对", _masked(phone)),
        _confirm(),
    )


def _complaint_corridor(n: int, phone: str) -> tuple[str, tuple[Step, ...]]:
    return "complaint:corridor-clutter", (
        _text("楼道里被人堆满了杂物，消防通道都堵了", "什么位置"),
        _text(f"阳光花园小区{n % 12 + 1}栋2单元", "联系电话"),
        _text(phone, "请核对"),
        _confirm(),
    )


def _complaint_noise(n: int, phone: str) -> tuple[str, tuple[Step, ...]]:
    return "complaint:noise-all-in-one", (
        _text(f"幸福小区{n % 30 + 1}号楼楼下半夜装修噪音太大，电话{phone}", "请核对"),
        _confirm(),
        Step("text", "我反映的问题怎么样了", names_own_ticket=True),
    )


_COMPLAINTS: tuple[Callable[[int, str], tuple[str, tuple[Step, ...]]], ...] = (
    _complaint_slot_by_slot,
    _complaint_manhole,
    _complaint_location,
    _complaint_corridor,
    _complaint_noise,
)


def _complaint(rng: random.Random, n: int) -> Scenario:
    digits = (12_345_678 + n * 7_919) % 10**8
    phone = f"{rng.choice(('138', '139', '137', '136'))}{digits:08d}"
    name, steps = rng.choice(_COMPLAINTS)(n, phone)
    if rng.random() < 0.3 and not any(step.names_own_ticket for step in steps):
        steps = (*steps, Step("text", "我的工单办得怎么样了", names_own_ticket=True))
        name += "+status"
    return Scenario("complaint", name, steps)


# -- status and chit-chat -----------------------------------------------------------------

_STATUS: tuple[Step, ...] = (
    _text("我的工单办得怎么样了", "没有正在办理的工单"),
    _text("我反映的问题怎么样了", "没有正在办理的工单"),
    _text("工单20200101-0001到哪一步了", "没有查到工单号 20200101-0001"),
)


def _status(rng: random.Random, n: int) -> Scenario:
    step = rng.choice(_STATUS)
    return Scenario("status", f"status:{step.content}", (step,))


_CHITCHAT: tuple[tuple[Step, ...], ...] = (
    (_text("你好", "有什么可以帮您"), _text("谢谢你们", "不客气")),
    (Step("click", "MENU_STATUS", ("没有正在办理的工单",)), _text("好的再见", "再见")),
    (Step("click", "MENU_REPORT", ("请直接告诉我",)), _text("谢谢你们", "不客气")),
    (_text("帮我推荐一只股票", "政务服务"),),
)


def _chitchat(rng: random.Random, n: int) -> Scenario:
    steps = rng.choice(_CHITCHAT)
    return Scenario("chitchat", "chitchat:" + "/".join(s.content for s in steps), steps)


_BUILDERS: dict[Kind, Callable[[random.Random, int], Scenario]] = {
    "faq": _faq,
    "complaint": _complaint,
    "status": _status,
    "chitchat": _chitchat,
}


def assign_kinds(residents: int, mix: Mapping[Kind, float], rng: random.Random) -> list[Kind]:
    """Exactly the mix's shares (rounded; the remainder goes to the largest kind), shuffled."""
    total = sum(mix.values())
    counts = {kind: int(residents * share / total) for kind, share in mix.items()}
    largest = max(mix, key=lambda kind: mix[kind])
    counts[largest] += residents - sum(counts.values())
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    rng.shuffle(kinds)
    return kinds


def build_scenario(kind: Kind, rng: random.Random, n: int) -> Scenario:
    """A conversation of ``kind`` for resident number ``n``."""
    return _BUILDERS[kind](rng, n)
