"""Dialogue benchmark: simulated residents talk to the real bot and we count task success.

Every resident of ``benchmarks/data/dialogues.yml`` (or ``--data FILE``) holds one
conversation, with an openid of its own, through the real path: HTTP → signed ``/wechat``
callback → dispatcher → NLU → dialogue policy → ticket storage. The app is the embedded
default (SQLite in a fresh temporary data dir, in-memory state, the built-in dispatch desk,
the outbox worker in-process) served in this process on a free loopback port, and its
pushes go to a fake WeChat API served here too.

The NLU model is trained from the packaged training data at every run into the temporary
dir (the benchmark measures the NLU as it is in the checkout right now); ``--model-dir DIR``
reuses the model published there when it is up to date with the training data (trained
into DIR otherwise), as ``load_conversations.py --model-dir`` does.

A resident reads each reply as a person would and answers what is asked, recognising the
bot's questions by the bot's own sentences (imported from ``policies.messages``):

* report resident — asked where → ``place``; asked what the problem is → ``description``;
  asked for a phone → ``phone``; asked whether to reuse an earlier phone → 是的; shown the
  summary (请核对…) → ``confirm``; asked again to confirm → 确认; offered an urgent ticket
  after emergency guidance → 是的. Stops at a ticket number, a handoff, a reply it cannot
  act on, or after 6 turns of its own.
  Success: exactly one ticket for the openid (read through ``GET /api/tickets``), of the
  expected category, whose location contains ``place`` exactly as typed (casing
  included), no question asked twice, at most 6 resident turns.
* FAQ resident — offered numbered topics → the number of the expected topic if it is
  offered. Success: a reply holding the expected topic's curated answer as the app holds
  it (the FAQ topics the running NLU serves, seeded from the database) within 2 turns.

Failure kinds (a resident can show several; ``first`` counts each failed resident once):
not_understood (the not-understood / out-of-scope / menu reply, or a greeting or thanks
instead of an answer), wrong_category (ticket of another category, or a complaint read as
a question or a status query), wrong_topic (another topic answered, or the expected one not
offered, or a question read as a complaint), asked_twice (with the slot), place_refused
(asked where again after the resident named the place), place_lost_or_mangled (the
ticket's location lacks the place as typed), no_ticket, handoff, too_many_turns, error
(transport errors, several tickets, a reply the harness cannot read).

    .venv/bin/python benchmarks/dialogue_benchmark.py [--data FILE] [--verbose] [--json OUT]

The run is deterministic: residents do not share anything (own openid, own conversation),
the model is trained with a fixed seed, and the answers depend only on the replies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scenarios import TICKET_RE  # noqa: E402
from bot.wechat.simulator import CallbackSigner, reply_text  # noqa: E402
from policies import messages as msg  # noqa: E402
from policies.dialogue import FAQEntry  # noqa: E402
from policies.taxonomy import load_taxonomy  # noqa: E402

if TYPE_CHECKING:
    import httpx

    from integrations.wechat.fake_server import FakeWeChatAPI
    from nlu.parser import NLUService

__all__ = [
    "FAILURE_KINDS",
    "DataError",
    "FAQResident",
    "Failure",
    "Outcome",
    "Reading",
    "ReportResident",
    "Target",
    "judge_tickets",
    "load_residents",
    "parse_residents",
    "read_reply",
    "run_residents",
    "summarize",
]

DEFAULT_DATA = ROOT / "benchmarks" / "data" / "dialogues.yml"
MAX_REPORT_TURNS = 6
MAX_FAQ_TURNS = 2
LATE_PUSH_WAIT = 10.0  # seconds to wait for a reply pushed after a passive "success"
REUSE_PHONE_ANSWER = "是的"
URGENT_ANSWER = "是的"
CONFIRM_AGAIN_ANSWER = "确认"
RESEND_PAUSE = 2.0  # seconds a resident waits when asked to send the message again

FAILURE_KINDS = (
    "not_understood",
    "wrong_category",
    "wrong_topic",
    "asked_twice",
    "place_refused",
    "place_lost_or_mangled",
    "no_ticket",
    "handoff",
    "too_many_turns",
    "error",
)


# -- the residents --------------------------------------------------------------------------


class DataError(ValueError):
    """The scenario file is malformed or inconsistent (one line per problem)."""


@dataclass(frozen=True, slots=True)
class ReportResident:
    """A resident with a complaint that should become one ticket."""

    id: str
    opening: str
    category: str
    place: str
    place_in_opening: bool
    description: str
    phone: str
    confirm: str

    kind: Literal["report"] = "report"


@dataclass(frozen=True, slots=True)
class FAQResident:
    """A resident with a question that has a curated answer."""

    id: str
    opening: str
    topic: str

    kind: Literal["faq"] = "faq"


Resident = ReportResident | FAQResident

_REPORT_FIELDS = ("opening", "category", "place", "description", "phone", "confirm")


def parse_residents(document: Mapping[str, Any]) -> list[Resident]:
    """Residents from a parsed scenario document (``reports:`` and ``faq:`` lists).

    Checks what the benchmark relies on: known intent ids, unique ids, every field
    present, and ``place_in_opening`` true exactly when ``place`` is in the opening.
    """
    taxonomy = load_taxonomy()
    reports, faqs = set(taxonomy.report_ids), set(taxonomy.faq_ids)
    problems: list[str] = []
    residents: list[Resident] = []
    seen: set[str] = set()

    def text(entry: Mapping[str, Any], name: str, where: str) -> str:
        value = entry.get(name)
        if value is None or str(value).strip() == "":
            problems.append(f"{where}: {name} is missing")
            return ""
        return str(value)

    for number, entry in enumerate(document.get("reports") or (), start=1):
        where = f"reports[{number}] {entry.get('id', '?')}"
        rid = text(entry, "id", where)
        values = {name: text(entry, name, where) for name in _REPORT_FIELDS}
        in_opening = entry.get("place_in_opening")
        if not isinstance(in_opening, bool):
            problems.append(f"{where}: place_in_opening must be true or false")
            in_opening = False
        if values["category"] and values["category"] not in reports:
            problems.append(f"{where}: unknown report category {values['category']!r}")
        if values["place"] and (values["place"] in values["opening"]) != in_opening:
            problems.append(
                f"{where}: place_in_opening is {str(in_opening).lower()} but the place "
                + ("is not" if in_opening else "is")
                + " in the opening"
            )
        if rid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(rid)
        residents.append(
            ReportResident(
                id=rid,
                opening=values["opening"],
                category=values["category"],
                place=values["place"],
                place_in_opening=in_opening,
                description=values["description"],
                phone=values["phone"],
                confirm=values["confirm"],
            )
        )
    for number, entry in enumerate(document.get("faq") or (), start=1):
        where = f"faq[{number}] {entry.get('id', '?')}"
        rid = text(entry, "id", where)
        opening, topic = text(entry, "opening", where), text(entry, "topic", where)
        if topic and topic not in faqs:
            problems.append(f"{where}: unknown faq topic {topic!r}")
        if rid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(rid)
        residents.append(FAQResident(id=rid, opening=opening, topic=topic))
    if problems:
        raise DataError("\n".join(problems))
    return residents


def load_residents(source: Path | str) -> list[Resident]:
    """Residents from a YAML file (a :class:`Path`) or YAML text (a :class:`str`)."""
    raw = source.read_text("utf-8") if isinstance(source, Path) else source
    document = yaml.safe_load(raw) or {}
    if not isinstance(document, Mapping):
        raise DataError("the scenario file must be a mapping with reports: and faq:")
    return parse_residents(document)


# -- reading the bot's replies --------------------------------------------------------------

ReplyKind = Literal[
    "ticket",
    "ticket_deferred",
    "ticket_failed",
    "handoff",
    "urgent_offer",
    "summary",
    "confirm_again",
    "ask_slot",
    "reuse_phone",
    "faq_choices",
    "faq_answer",
    "status",
    "not_understood",
    "send_again",
    "unknown",
]


@dataclass(frozen=True, slots=True)
class Reading:
    """What a reply does, as a resident understands it."""

    kind: ReplyKind
    slot: str | None = None  # ask_slot: location, description, phone
    retry: bool = False  # ask_slot: the "not good enough, again" form of the question
    ticket_id: str | None = None
    choices: tuple[str, ...] = ()  # faq_choices: the offered titles, in order
    faq_title: str | None = None  # faq_answer
    category_label: str | None = None  # the category the bot announced it is filing


def _around(template: str) -> tuple[str, str]:
    """The fixed text before and after the ``\\x00`` placeholder of a message template."""
    before, _, after = template.partition("\x00")
    return before, after


def _module_sentences(prefix: str) -> tuple[str, ...]:
    """Module-level sentences of ``policies.messages`` named ``<prefix>*`` (such as
    ``LOCATION_NOT_A_PLACE`` or ``HANDOFF_STUCK``): forms the policy adds are picked up
    without editing the harness."""
    return tuple(
        value
        for name, value in sorted(vars(msg).items())
        if name.startswith(prefix) and isinstance(value, str)
    )


class _Sentences:
    """The bot's own sentences, from ``policies.messages`` (never copied here)."""

    def __init__(self) -> None:
        self.slots = ("location", "description", "phone")
        self.first = {slot: msg.ask_slot(slot) for slot in self.slots}
        self.retry: dict[str, tuple[str, ...]] = {
            slot: (msg.ask_slot(slot, retry=True), *_module_sentences(slot.upper() + "_"))
            for slot in self.slots
        }
        self.summary_head = msg.case_summary("\x00", "\x00", "\x00", "0").splitlines()[0]
        last = msg.case_summary("\x00", "\x00", "\x00", "0").splitlines()[-1]
        # "确认无误请回复“确认”" is in the summary and in every later reminder to confirm
        self.confirm_prompt = re.split(r"[；;，,。]", last)[0]
        self.reuse_phone = _around(msg.ask_reuse_phone("\x00"))[0].strip()
        guidance = msg.emergency_guidance("").splitlines()
        self.urgent_offer = guidance[-1]
        # every HANDOFF_* sentence: started, after misunderstandings, stuck, upset, and
        # "no person reachable" (a handoff that failed is still no ticket by the bot)
        self.handoff = _module_sentences("HANDOFF_")
        self.not_understood = (msg.NOT_UNDERSTOOD, msg.OUT_OF_SCOPE, msg.MENU)
        # Replies to small talk: to a resident who stated a problem they mean "not read".
        self.small_talk = (
            msg.GREETING,
            msg.THANKS,
            msg.GOODBYE,
            msg.NOTHING_TO_CANCEL,
            msg.CANCELLED,
            msg.URGENT_DECLINED,
        )
        self.send_again = msg.STATE_UNAVAILABLE
        self.deferred = msg.ticket_deferred()
        self.failed = msg.ticket_failed()
        self.choices_head = msg.faq_choices([]).splitlines()[0]
        self.answer_open, rest = _around(msg.faq_answer("\x00", "x"))
        self.answer_close = rest.split("x")[0].rstrip("\n")
        status_head = msg.status_list([{"id": "\x00", "category_label": "", "status": ""}])
        self.status = (status_head.splitlines()[0], msg.status_list([]))
        before, after = _around(msg.case_started("\x00"))
        self.case_started = re.compile(re.escape(before) + "(.+?)" + re.escape(after))


_S: _Sentences | None = None


def _sentences() -> _Sentences:
    global _S
    if _S is None:
        _S = _Sentences()
    return _S


def read_reply(text: str) -> Reading:
    """Classify one reply of the bot (it may join several messages with blank lines)."""
    s = _sentences()
    started = s.case_started.search(text)
    label = started.group(1) if started else None
    if s.send_again in text:
        return Reading("send_again")
    found = TICKET_RE.search(text)
    if found:
        return Reading("ticket", ticket_id=found.group(1), category_label=label)
    if s.deferred in text:
        return Reading("ticket_deferred")
    if s.failed in text:
        return Reading("ticket_failed")
    if any(sentence in text for sentence in s.handoff):
        return Reading("handoff")
    if s.urgent_offer in text:
        return Reading("urgent_offer")
    if s.summary_head in text:
        return Reading("summary", category_label=label)
    for slot in s.slots:
        if any(sentence in text for sentence in s.retry[slot]):
            return Reading("ask_slot", slot=slot, retry=True, category_label=label)
    for slot in s.slots:
        if s.first[slot] in text:
            return Reading("ask_slot", slot=slot, category_label=label)
    if s.reuse_phone and s.reuse_phone in text:
        return Reading("reuse_phone", category_label=label)
    if s.confirm_prompt in text:
        return Reading("confirm_again")
    if s.choices_head in text:
        titles = re.findall(r"^\s*\d+\.\s*(.+?)\s*$", text.split(s.choices_head, 1)[1], re.M)
        return Reading("faq_choices", choices=tuple(titles))
    if text.startswith(s.answer_open) and s.answer_close in text:
        title = text[len(s.answer_open) :].split(s.answer_close, 1)[0]
        return Reading("faq_answer", faq_title=title)
    if any(sentence in text for sentence in s.not_understood):
        return Reading("not_understood")
    if any(sentence in text for sentence in s.small_talk):
        return Reading("not_understood")
    if any(sentence in text for sentence in s.status):
        return Reading("status")
    return Reading("unknown")


# -- one conversation -----------------------------------------------------------------------


@dataclass
class Target:
    """A running app: where to post, how to sign, where pushes land, the admin API token,
    and the curated FAQ answers as the app holds them."""

    base_url: str
    signer: CallbackSigner
    admin_token: str
    faq: Mapping[str, FAQEntry]
    fake: FakeWeChatAPI | None = None
    timeout: float = 15.0


@dataclass
class Failure:
    """One failure of a resident: its kind and what happened."""

    kind: str
    detail: str = ""


@dataclass
class Outcome:
    """What happened to one resident."""

    resident: Resident
    openid: str
    transcript: list[tuple[str, str]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    turns: int = 0
    ticket_id: str | None = None  # named in a reply
    tickets: list[dict[str, Any]] = field(default_factory=list)  # from the API
    announced_label: str | None = None  # category label the bot said it was filing
    place_asked_though_given: bool = False
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return not self.failures

    @property
    def kinds(self) -> list[str]:
        out: list[str] = []
        for failure in self.failures:
            if failure.kind not in out:
                out.append(failure.kind)
        return out

    def fail(self, kind: str, detail: str = "") -> None:
        assert kind in FAILURE_KINDS, kind
        if not any(f.kind == kind and f.detail == detail for f in self.failures):
            self.failures.append(Failure(kind, detail))

    def as_dict(self) -> dict[str, Any]:
        r = self.resident
        return {
            "id": r.id,
            "kind": r.kind,
            "expected": r.category if isinstance(r, ReportResident) else r.topic,
            "openid": self.openid,
            "success": self.success,
            "failures": [{"kind": f.kind, "detail": f.detail} for f in self.failures],
            "turns": self.turns,
            "ticket_id": self.ticket_id,
            "tickets": [
                {k: t.get(k) for k in ("id", "category", "location", "description", "phone")}
                for t in self.tickets
            ],
            "announced_label": self.announced_label,
            "place_asked_though_given": self.place_asked_though_given,
            "seconds": round(self.seconds, 3),
            "transcript": [{"who": who, "text": text} for who, text in self.transcript],
        }


class _Conversation:
    """Sends one resident's messages and returns the bot's replies (passive or pushed)."""

    def __init__(self, target: Target, client: httpx.AsyncClient, outcome: Outcome) -> None:
        self.target = target
        self.client = client
        self.outcome = outcome
        self.last_sent = ""

    async def say(self, text: str) -> str | None:
        """Send ``text``; the reply, or None after recording an error."""
        out = self.outcome
        out.turns += 1
        self.last_sent = text
        out.transcript.append(("resident", text))
        fake = self.target.fake
        pushed_before = len(fake.delivered_to(out.openid)) if fake is not None else 0
        request = self.target.signer.text(out.openid, text)
        try:
            response = await self.client.post(
                self.target.base_url + "/wechat",
                params=request.params,
                content=request.body,
                timeout=self.target.timeout,
            )
        except Exception as exc:  # any transport failure ends this conversation only
            out.fail("error", f"turn {out.turns}: {exc!r}")
            return None
        if response.status_code != 200:
            out.fail("error", f"turn {out.turns}: HTTP {response.status_code}")
            return None
        reply = reply_text(response.content)
        if reply is None:
            reply = await self._pushed(pushed_before)
        if reply is None:
            out.fail("error", f"turn {out.turns}: no reply")
            return None
        out.transcript.append(("bot", reply))
        return reply

    async def _pushed(self, seen: int) -> str | None:
        """A passive "success": the reply comes as a customer-service push."""
        fake = self.target.fake
        if fake is None:
            return None
        deadline = time.monotonic() + LATE_PUSH_WAIT
        while time.monotonic() < deadline:
            for call in fake.delivered_to(self.outcome.openid)[seen:]:
                content = (call.json or {}).get("text", {}).get("content")
                if isinstance(content, str):
                    return content
            await asyncio.sleep(0.05)
        return None


async def _report(conv: _Conversation, resident: ReportResident) -> None:
    out = conv.outcome
    asked: Counter[str] = Counter()
    place_sent = False
    reply = await conv.say(resident.opening)
    while reply is not None:
        reading = read_reply(reply)
        if reading.category_label:
            out.announced_label = reading.category_label
        answer: str | None = None
        if reading.kind == "ticket":
            out.ticket_id = reading.ticket_id
            return
        if reading.kind == "ticket_deferred":
            # filed later (database busy): the number is pushed; the API check decides
            return
        if reading.kind == "ticket_failed":
            out.fail("error", "the bot could not file the ticket")
            return
        if reading.kind == "handoff":
            out.fail("handoff", f"after turn {out.turns}")
            return
        if reading.kind == "not_understood":
            out.fail("not_understood", f"turn {out.turns}")
            return
        if reading.kind in ("faq_answer", "faq_choices", "status"):
            what = reading.faq_title or ", ".join(reading.choices) or reading.kind
            out.fail("wrong_category", f"read as a question: {what}")
            return
        if reading.kind == "unknown":
            out.fail("error", f"unrecognised reply at turn {out.turns}")
            return
        if reading.kind == "send_again":
            await asyncio.sleep(RESEND_PAUSE)
            answer = conv.last_sent
        elif reading.kind == "urgent_offer":
            answer = URGENT_ANSWER
        elif reading.kind == "ask_slot":
            slot = reading.slot or "?"
            if asked[slot]:
                if slot == "location" and place_sent:
                    out.fail("place_refused", f"after {resident.place!r}")
                else:
                    out.fail("asked_twice", slot)
            asked[slot] += 1
            if slot == "location":
                if resident.place_in_opening and not place_sent:
                    out.place_asked_though_given = True
                answer, place_sent = resident.place, True
            elif slot == "description":
                answer = resident.description
            else:
                answer = resident.phone
        elif reading.kind == "reuse_phone":
            if asked["phone"]:
                out.fail("asked_twice", "phone")
            asked["phone"] += 1
            answer = REUSE_PHONE_ANSWER
        elif reading.kind == "summary":
            if asked["confirm"]:
                out.fail("asked_twice", "confirm")
            asked["confirm"] += 1
            answer = resident.confirm
        elif reading.kind == "confirm_again":
            out.fail("asked_twice", "confirm")
            asked["confirm"] += 1
            answer = CONFIRM_AGAIN_ANSWER
        assert answer is not None
        if out.turns >= MAX_REPORT_TURNS:
            out.fail("too_many_turns", f"no ticket after {out.turns} turns")
            return
        reply = await conv.say(answer)


def _expected_answer(faq: Mapping[str, FAQEntry], topic: str) -> str | None:
    entry = faq.get(topic)
    return msg.faq_answer(entry.title, entry.answer) if entry else None


def _answered_topic(faq: Mapping[str, FAQEntry], reply: str) -> str | None:
    for topic, entry in faq.items():
        if msg.faq_answer(entry.title, entry.answer) in reply:
            return topic
    return None


async def _faq(conv: _Conversation, resident: FAQResident) -> None:
    out, faq = conv.outcome, conv.target.faq
    expected = _expected_answer(faq, resident.topic)
    if expected is None:
        out.fail("error", f"the app holds no FAQ topic {resident.topic}")
        return
    reply = await conv.say(resident.opening)
    while reply is not None:
        if expected in reply:
            return
        reading = read_reply(reply)
        if reading.kind == "send_again" and out.turns < MAX_FAQ_TURNS:
            await asyncio.sleep(RESEND_PAUSE)
            reply = await conv.say(conv.last_sent)
            continue
        if reading.kind == "faq_answer":
            got = _answered_topic(faq, reply) or reading.faq_title
            out.fail("wrong_topic", f"answered {got}")
            return
        if reading.kind == "faq_choices":
            title = faq[resident.topic].title
            if title not in reading.choices:
                out.fail("wrong_topic", "offered " + " / ".join(reading.choices))
                return
            if out.turns >= MAX_FAQ_TURNS:
                out.fail("too_many_turns", f"no answer after {out.turns} turns")
                return
            reply = await conv.say(str(reading.choices.index(title) + 1))
            continue
        if reading.kind == "handoff":
            out.fail("handoff", f"after turn {out.turns}")
        elif reading.kind == "not_understood":
            out.fail("not_understood", f"turn {out.turns}")
        elif reading.kind in ("ask_slot", "summary", "urgent_offer", "ticket"):
            out.fail("wrong_topic", f"read as a complaint: {reading.category_label or '?'}")
        elif reading.kind == "status":
            out.fail("wrong_topic", "read as a status query")
        else:
            out.fail("error", f"unrecognised reply at turn {out.turns}")
        return


def judge_tickets(resident: ReportResident, tickets: Sequence[Mapping[str, Any]]) -> list[Failure]:
    """What is wrong with the tickets a report resident ended up with (``[]``: nothing)."""
    if not tickets:
        return [Failure("no_ticket", "no ticket in the database")]
    if len(tickets) > 1:
        return [Failure("error", f"{len(tickets)} tickets for one conversation")]
    ticket = tickets[0]
    failures = []
    if ticket.get("category") != resident.category:
        failures.append(Failure("wrong_category", f"ticket is {ticket.get('category')}"))
    location = str(ticket.get("location") or "")
    if resident.place not in location:
        failures.append(
            Failure("place_lost_or_mangled", f"location {location!r} lacks {resident.place!r}")
        )
    return failures


async def _tickets_of(
    target: Target, client: httpx.AsyncClient, openid: str
) -> list[dict[str, Any]]:
    response = await client.get(
        target.base_url + "/api/tickets",
        params={"openid": openid, "limit": 50},
        headers={"Authorization": f"Bearer {target.admin_token}"},
        timeout=target.timeout,
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _play(
    target: Target, client: httpx.AsyncClient, resident: Resident, openid: str
) -> Outcome:
    out = Outcome(resident, openid)
    started = time.perf_counter()
    conv = _Conversation(target, client, out)
    if isinstance(resident, FAQResident):
        await _faq(conv, resident)
    else:
        await _report(conv, resident)
        try:
            out.tickets = await _tickets_of(target, client, openid)
        except Exception as exc:  # the API check failing is the harness's problem
            out.fail("error", f"ticket API: {exc!r}")
        else:
            fatal = {"not_understood", "handoff", "too_many_turns", "wrong_category", "error"}
            for failure in judge_tickets(resident, out.tickets):
                # a conversation that already failed for a reason needs no "no ticket" too
                if failure.kind == "no_ticket" and fatal & set(out.kinds):
                    continue
                out.fail(failure.kind, failure.detail)
            if out.ticket_id and out.ticket_id not in {t.get("id") for t in out.tickets}:
                out.fail("error", f"the bot named ticket {out.ticket_id}, the API does not")
    out.seconds = time.perf_counter() - started
    return out


async def run_residents(
    target: Target,
    residents: Sequence[Resident],
    *,
    concurrency: int = 4,
    openid_prefix: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Outcome]:
    """Play every resident (``concurrency`` conversations at a time); outcomes in the
    residents' order. Openids are ``<prefix><number>`` (a fresh prefix per call)."""
    import httpx

    prefix = openid_prefix or f"o-dlg-{secrets.token_hex(3)}-"
    outcomes: list[Outcome | None] = [None] * len(residents)
    gate = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async with httpx.AsyncClient() as client:

        async def one(index: int, resident: Resident) -> None:
            nonlocal done
            async with gate:
                outcomes[index] = await _play(target, client, resident, f"{prefix}{index:04d}")
            done += 1
            if progress is not None:
                progress(done, len(residents))

        await asyncio.gather(*(one(i, r) for i, r in enumerate(residents)))
    return [o for o in outcomes if o is not None]


# -- figures --------------------------------------------------------------------------------


def _share(part: int, whole: int) -> dict[str, Any]:
    return {"success": part, "total": whole, "pct": round(100 * part / whole, 1) if whole else 0}


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The figures of a run as plain data."""
    reports = [o for o in outcomes if isinstance(o.resident, ReportResident)]
    faqs = [o for o in outcomes if isinstance(o.resident, FAQResident)]
    by_kind: Counter[str] = Counter()
    first: Counter[str] = Counter()
    asked_twice: Counter[str] = Counter()
    for o in outcomes:
        for kind in o.kinds:
            by_kind[kind] += 1
        if o.failures:
            first[o.failures[0].kind] += 1
        for f in o.failures:
            if f.kind == "asked_twice":
                asked_twice[f.detail] += 1
    per_expected: dict[str, list[int]] = {}
    for o in outcomes:
        r = o.resident
        key = r.category if isinstance(r, ReportResident) else r.topic
        counts = per_expected.setdefault(key, [0, 0])
        counts[0] += o.success
        counts[1] += 1
    return {
        "overall": _share(sum(o.success for o in outcomes), len(outcomes)),
        "reports": _share(sum(o.success for o in reports), len(reports)),
        "faq": _share(sum(o.success for o in faqs), len(faqs)),
        "failures_by_kind": {k: by_kind[k] for k in FAILURE_KINDS if by_kind[k]},
        "first_failure_by_kind": {k: first[k] for k in FAILURE_KINDS if first[k]},
        "asked_twice_by_slot": dict(sorted(asked_twice.items())),
        "place_in_opening_but_asked": sum(o.place_asked_though_given for o in reports),
        "by_expected": {k: {"success": v[0], "total": v[1]} for k, v in per_expected.items()},
        "turns": {
            "reports_mean": round(sum(o.turns for o in reports) / len(reports), 2)
            if reports
            else 0,
            "faq_mean": round(sum(o.turns for o in faqs) / len(faqs), 2) if faqs else 0,
        },
    }


def format_transcript(outcome: Outcome) -> str:
    r = outcome.resident
    expected = r.category if isinstance(r, ReportResident) else r.topic
    head = f"--- {r.id} ({expected}) {outcome.openid}: " + "; ".join(
        f"{f.kind}" + (f" [{f.detail}]" if f.detail else "") for f in outcome.failures
    )
    lines = [head]
    for who, text in outcome.transcript:
        mark = "居民" if who == "resident" else "  bot"
        body = text.replace("\n", "\n        ")
        lines.append(f"  {mark}: {body}")
    for ticket in outcome.tickets:
        lines.append(
            f"  ticket {ticket.get('id')}: {ticket.get('category')} @ {ticket.get('location')!r}"
        )
    return "\n".join(lines)


def print_summary(summary: Mapping[str, Any]) -> None:
    print("success")
    for name, label in (("overall", "overall"), ("reports", "reports"), ("faq", "FAQ")):
        s = summary[name]
        print(f"  {label:8} {s['success']:>4}/{s['total']:<4} {s['pct']:5.1f} %")
    print("failures by kind (residents; one resident can show several kinds)   [first failure]")
    first = summary["first_failure_by_kind"]
    for kind in FAILURE_KINDS:
        count = summary["failures_by_kind"].get(kind, 0)
        extra = ""
        if kind == "asked_twice" and summary["asked_twice_by_slot"]:
            extra = "  (" + ", ".join(f"{k} {v}" for k, v in summary["asked_twice_by_slot"].items())
            extra += ")"
        print(f"  {kind:22} {count:>4}   [{first.get(kind, 0)}]{extra}")
    print(
        f"place in the opening but asked for anyway (not a failure): "
        f"{summary['place_in_opening_but_asked']}"
    )
    print(
        f"mean resident turns: reports {summary['turns']['reports_mean']}, "
        f"FAQ {summary['turns']['faq_mean']}"
    )
    print("success by expected intent:")
    rows = sorted(summary["by_expected"].items())
    for start in range(0, len(rows), 3):
        print(
            "  "
            + "  ".join(
                f"{k.split('.', 1)[1]:<30}{v['success']:>2}/{v['total']:<3}"
                for k, v in rows[start : start + 3]
            )
        )


# -- the app --------------------------------------------------------------------------------


def _prepare_nlu(model_dir: Path | None, workdir: Path) -> tuple[NLUService, str]:
    """The NLU service the app uses, and a line saying where its model came from."""
    from nlu.model import latest_model_path
    from nlu.parser import NLUService

    started = time.perf_counter()
    if model_dir is None:
        nlu = NLUService(workdir / "models")
        version = nlu.train()
        how = "trained from the packaged training data"
    else:
        nlu = NLUService(model_dir)
        if latest_model_path(model_dir) is not None and not nlu.is_stale():
            version = nlu.version
            how = f"loaded from {model_dir} (up to date with the training data)"
        else:
            version = nlu.train()
            how = f"trained from the packaged training data into {model_dir}"
    return nlu, f"NLU model {version} {how} ({time.perf_counter() - started:.1f} s)"


@contextmanager
def embedded_app(workdir: Path, nlu: NLUService) -> Iterator[Target]:
    """The embedded default served in this process on a free loopback port, with a fake
    WeChat API for its pushes; yields the :class:`Target` to talk to."""
    from bot.app import create_app
    from bot.config import load_settings
    from bot.handlers.dialogue import faq_entries
    from bot.runtime import Runtime
    from integrations.wechat.fake_server import FakeWeChatAPI
    from testing.servers import serve_asgi, serve_wechat_fake

    token = secrets.token_hex(12)
    app_id, app_secret = "wxdlg" + secrets.token_hex(6), secrets.token_hex(16)
    admin_token = secrets.token_urlsafe(24)
    fake = FakeWeChatAPI(app_id=app_id, app_secret=app_secret)
    with serve_wechat_fake(fake) as fake_url:
        settings = load_settings(
            INTAKE_DATA_DIR=workdir / "data",
            INTAKE_MODEL_DIR=nlu.model_dir,
            DATABASE_URL=None,
            REDIS_URL=None,
            WECHAT_TOKEN=token,
            WECHAT_APP_ID=app_id,
            WECHAT_APP_SECRET=app_secret,
            WECHAT_ENCODING_AES_KEY=None,
            WECHAT_API_BASE_URL=fake_url,
            INTAKE_ADMIN_TOKEN=admin_token,
            INTAKE_LOG_LEVEL="WARNING",
            # Each simulated resident is judged on their own conversation; hundreds report
            # at the same few places, which would offer later ones to follow a ticket.
            INTAKE_CLUSTER_NOTICE=False,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        runtime = Runtime.from_settings(settings, nlu=nlu)
        app = create_app(settings, runtime=runtime)
        with serve_asgi(app, name="intake-dialogue-benchmark") as url:
            # read after start-up: the topics the app seeded into its database and serves
            faq = faq_entries(nlu)
            yield Target(
                base_url=url,
                signer=CallbackSigner(token),
                admin_token=admin_token,
                faq=faq,
                fake=fake,
            )


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def code_fingerprint() -> str:
    """A short hash of the product code and data (bot, nlu, policies, integrations): the
    model version does not change when code does, and people edit the checkout while
    benchmarks run, so two runs are comparable only when this matches."""
    import hashlib

    digest = hashlib.sha256()
    for package in ("bot", "nlu", "policies", "integrations"):
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix in (".py", ".yml", ".yaml", ".txt") and path.is_file():
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _commit() -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "bot", "nlu", "policies")
    return commit + (" + uncommitted changes in bot/nlu/policies" if dirty else "")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="scenario YAML")
    parser.add_argument("--verbose", action="store_true", help="print every failed transcript")
    parser.add_argument("--json", type=Path, default=None, help="write figures and outcomes")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="reuse (or train into) this model dir"
    )
    parser.add_argument("--only", default=None, help="residents whose id contains this")
    parser.add_argument("--concurrency", type=int, default=4, help="conversations at a time")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    wall = time.perf_counter()
    try:
        residents = load_residents(args.data)
    except (OSError, DataError, yaml.YAMLError) as exc:
        print(f"{args.data}: {exc}", file=sys.stderr)
        return 2
    if args.only:
        residents = [r for r in residents if args.only in r.id]
    commit, now, fingerprint = _commit(), datetime.now().astimezone(), code_fingerprint()
    print(f"dialogue benchmark — commit {commit}, {now:%Y-%m-%d %H:%M:%S %z}")
    print(f"product code fingerprint {fingerprint} (bot, nlu, policies, integrations)")
    n_reports = sum(isinstance(r, ReportResident) for r in residents)
    print(
        f"{len(residents)} residents ({n_reports} reports, {len(residents) - n_reports} FAQ) "
        f"from {args.data}"
    )
    with tempfile.TemporaryDirectory(prefix="intake-dialogue-") as tmp:
        workdir = Path(tmp)
        nlu, model_line = _prepare_nlu(args.model_dir, workdir)
        print(model_line, flush=True)
        app_started = time.perf_counter()
        with embedded_app(workdir, nlu) as target:
            app_seconds = time.perf_counter() - app_started
            talk_started = time.perf_counter()
            outcomes = asyncio.run(run_residents(target, residents, concurrency=args.concurrency))
            talk_seconds = time.perf_counter() - talk_started
    summary = summarize(outcomes)
    print()
    if args.verbose:
        for outcome in outcomes:
            if not outcome.success:
                print(format_transcript(outcome))
        print()
    print_summary(summary)
    wall_seconds = time.perf_counter() - wall
    print(
        f"wall time {wall_seconds:.1f} s (app start {app_seconds:.1f} s, "
        f"conversations {talk_seconds:.1f} s, {args.concurrency} at a time)"
    )
    if args.json:
        payload = {
            "commit": commit,
            "code_fingerprint": fingerprint,
            "date": now.isoformat(timespec="seconds"),
            "data": str(args.data),
            "model": model_line,
            "wall_seconds": round(wall_seconds, 2),
            "summary": summary,
            "outcomes": [o.as_dict() for o in outcomes],
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2), "utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
