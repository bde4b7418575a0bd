"""Rule-based entity extraction for residents' messages.

:func:`extract_entities` finds ``phone``, ``id_number``, ``ticket_id``, ``time`` and
``address`` entities.  It runs on :func:`nlu.normalize.normalize_aligned` text (full-width
folded, traditional → simplified, lower-case) and reports ``start``/``end`` as character
offsets into the ORIGINAL message, Rasa-style.  Results are sorted and never overlap.

Extractors run in a fixed order and each claims its characters, so a later, vaguer one
cannot reuse them: ID numbers, then ticket ids, then phones, then times, then addresses —
except that a time inside a place's name gives way to the place (住在金科10年城3期: the
estate, not the time 10年).
This is what keeps ``20261123-0042`` (ticket), ``110105199001011234`` (ID),
``2026年11月23日`` (time) or ``3栋502室`` (address) from ever being read as phone numbers.

Values are normalised: phones are digits only (``13812345678``; landlines keep the area
code, ``01012345678``, an extension follows a dash), ID numbers are ALWAYS masked
(``110105********1234``), ticket ids are ``YYYYMMDD-NNNN``, times are the normalised
matched text.  An address's value keeps the resident's own letters, digits and widths
(``C5栋``, ``Ｂ区``: a lower-cased ``c5栋`` is not the building's name); only traditional
characters become simplified (``朝陽區`` → ``朝阳区``) so routing keywords match.

Addresses come from :mod:`nlu.address` (estates of any name, roads, crossings, landmarks,
villages, divisions; see docs/address.md).  ``Specificity``, ``address_specificity`` and
``is_specific_location`` are re-exported from there for existing callers.

Design choice worth knowing: phones in Chinese digits (voice input) are taken only when
exactly 11 digits form a valid mobile number.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from nlu.address import (
    MessagePlaces,
    PlaceSpan,
    Specificity,
    address_specificity,
    is_specific_location,
    may_hold_time,
    scan_places,
    trie_regex,
)
from nlu.normalize import AlignedText, normalize_aligned
from privacy import find_numbers, is_valid_id_number, mask_id_number

__all__ = [
    "EXTRACTOR",
    "Entity",
    "Specificity",
    "address_specificity",
    "extract_entities",
    "is_specific_location",
    "is_valid_id_number",
]

EXTRACTOR: Final = "IntakeRuleExtractor"


@dataclass(frozen=True, slots=True)
class Entity:
    """One extracted entity; ``start``/``end`` index the original message text."""

    entity: str
    value: str
    start: int
    end: int
    extractor: str = field(default=EXTRACTOR, compare=False)

    def as_dict(self) -> dict[str, str | int]:
        """Rasa's entity shape: ``{"entity", "value", "start", "end"}``."""
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end}


# =========================================================================== helpers


def _words(text: str) -> list[str]:
    """Split a space-separated word list (long lists read better as one string)."""
    return text.split()


def _free(claimed: bytearray, start: int, end: int) -> bool:
    return not any(claimed[start:end])


def _claim(claimed: bytearray, start: int, end: int) -> None:
    claimed[start:end] = b"\x01" * (end - start)


def _scan(
    trigger: re.Pattern[str],
    pattern: re.Pattern[str],
    s: str,
    claimed: bytearray | None = None,
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(s)``, but only attempting matches where ``trigger`` matches.

    Python's ``re`` skips ahead in C only for patterns that start with a literal or a
    character class; an alternation of lookbehinds and groups is attempted at every
    position (~60 ns each).  ``trigger`` is the class of every character a match of
    ``pattern`` can start with, so the result is the same, several times faster.
    Positions already ``claimed`` by another entity are skipped too.
    """
    pos, n = 0, len(s)
    search, match = trigger.search, pattern.match
    while pos < n:
        hit = search(s, pos)
        if hit is None:
            return
        at = hit.start()
        if claimed is not None and claimed[at]:
            free = claimed.find(0, at)
            pos = n if free < 0 else free
            continue
        m = match(s, at)
        if m is not None and m.end() > at:
            yield m
            pos = m.end()
        else:
            pos = at + 1


# =========================================================================== ID numbers

# privacy.find_numbers reads every spelling (spaces, hyphens of any width, dots);
# an entity is a valid ID written whole or in its 6-8-4 (15: 6-6-3) parts.
_ID_BREAKS: Final = {18: {6, 14}, 15: {6, 12}}


def _find_id_numbers(s: str, claimed: bytearray, out: list[tuple[int, int, str, str]]) -> None:
    for number in find_numbers(s):
        if number.kind != "id_number" or not _free(claimed, number.start, number.end):
            continue
        breaks = set(itertools.accumulate(number.groups[:-1]))
        if number.certain and breaks <= _ID_BREAKS[len(number.value)]:
            out.append((number.start, number.end, "id_number", mask_id_number(number.value)))
        # A mistyped ID is not an entity, and not a phone or a ticket id either.
        _claim(claimed, number.start, number.end)


# =========================================================================== ticket ids

_TICKET_PREFIXED_RE = re.compile(
    r"(?:工单编号|工单号码|工单号|工单|单号(?<![订账运]单号)|编号|受理号|受理编号|流水号)"
    r"(?:是|为|:|#|\s)*(\d{8})\s*([-–—_]?)\s*(\d{4})(?![\d])"
)
_TICKET_RE = re.compile(r"(\d(?<![\d-]\d)\d{7})[-–—_](\d{4})(?![\d-])")


def _find_tickets(s: str, claimed: bytearray, out: list[tuple[int, int, str, str]]) -> None:
    for m in _TICKET_PREFIXED_RE.finditer(s):
        # Without the dash only our own format counts: a date, then a sequence number
        # (an order or waybill number after 编号 must not become a ticket).
        if not m.group(2) and not _valid_ticket_date(m.group(1)):
            continue
        _add_ticket(m.start(1), m.end(3), m.group(1), m.group(3), claimed, out)
    for m in _TICKET_RE.finditer(s):
        _add_ticket(m.start(1), m.end(2), m.group(1), m.group(2), claimed, out)


def _valid_ticket_date(yyyymmdd: str) -> bool:
    try:
        _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return yyyymmdd.startswith("20")


def _add_ticket(
    start: int,
    end: int,
    day: str,
    seq: str,
    claimed: bytearray,
    out: list[tuple[int, int, str, str]],
) -> None:
    if _free(claimed, start, end):
        out.append((start, end, "ticket_id", f"{day}-{seq}"))
        _claim(claimed, start, end)


# =========================================================================== phones

_MOBILE_RE = re.compile(
    r"(?<![\d+])(?P<prefix>(?:\+|00)?86[ -]?|\(\+?86\) ?)?"
    r"(?P<a>1[3-9]\d)(?P<s1>[ -]?)(?P<b>\d{4})(?P<s2>[ -]?)(?P<c>\d{4})(?!\d)"
)
_AREA = r"(?:010|02\d|0[3-9]\d{2})"
_LANDLINE_RE = re.compile(
    r"(?<![\d+])"
    r"(?:\((?P<a1>" + _AREA + r")\) ?|(?P<a2>" + _AREA + r")[ -]"
    r"|(?P<a3>" + _AREA + r")(?=[2-9]\d{6,7}(?!\d)))"
    r"(?P<l1>[1-9]\d{2,3})[ -]?(?P<l2>\d{4})"
    r"(?:(?: ?(?:转|分机|ext\.?|x) ?|-)(?P<ext>\d{1,5}))?(?!\d)"
)
_SERVICE_RE = re.compile(r"([48](?<![\d+][48])00)[ -]?(\d{3,4})[ -]?(\d{3,4})(?!\d)")
_MOBILE_TRIGGER_RE = re.compile(r"[\d+(]")
_LANDLINE_TRIGGER_RE = re.compile(r"[0(]")
_CN_PHONE_DIGITS: Final = "零〇一二三四五六七八九幺两"
_CN_PHONE_RE = re.compile(
    f"[{_CN_PHONE_DIGITS}](?<![{_CN_PHONE_DIGITS}十百千万\\d].)"
    f"(?:[ ,、-]?[{_CN_PHONE_DIGITS}]){{10}}"
    f"(?![ ,、-]?[{_CN_PHONE_DIGITS}十百千万\\d])"
)
_CN_PHONE_TABLE: Final = str.maketrans(
    {
        "零": "0",
        "〇": "0",
        "一": "1",
        "幺": "1",
        "二": "2",
        "两": "2",
        "三": "3",
        "四": "4",
        "五": "5",
        "六": "6",
        "七": "7",
        "八": "8",
        "九": "9",
        " ": None,
        ",": None,
        "、": None,
        "-": None,
    }
)
_MOBILE_VALUE_RE = re.compile(r"1[3-9]\d{9}")
_GROUP_BEFORE_RE = re.compile(r"\d[ -]$")
_GROUP_AFTER_RE = re.compile(r"[ -]\d")


def _joined_to_other_digits(s: str, start: int, end: int, grouped: bool) -> bool:
    """Whether a number candidate is really a slice of a longer number.

    A grouped candidate (138 1234 5678) next to another digit group is part of e.g. a
    bank card written in groups; an ungrouped one glued by a dash (…-13812345678-…) is
    part of some reference number.
    """
    before = s[max(0, start - 2) : start]
    after = s[end : end + 2]
    if grouped:
        return bool(_GROUP_BEFORE_RE.search(before) or _GROUP_AFTER_RE.match(after))
    return (before.endswith("-") and before[:1].isdigit()) or (
        after.startswith("-") and after[1:2].isdigit()
    )


def _find_phones(s: str, claimed: bytearray, out: list[tuple[int, int, str, str]]) -> None:
    found: list[tuple[int, int, str]] = []
    for m in _scan(_MOBILE_TRIGGER_RE, _MOBILE_RE, s):
        prefix = m.group("prefix") or ""
        grouped = bool(m.group("s1") or m.group("s2") or prefix.endswith((" ", "-")))
        if _joined_to_other_digits(s, m.start(), m.end(), grouped):
            continue
        found.append((m.start(), m.end(), m.group("a") + m.group("b") + m.group("c")))
    for m in _scan(_LANDLINE_TRIGGER_RE, _LANDLINE_RE, s):
        area = m.group("a1") or m.group("a2") or m.group("a3") or ""
        if _joined_to_other_digits(s, m.start(), m.end(), True):
            continue
        value = area + m.group("l1") + m.group("l2")
        if m.group("ext"):
            value += "-" + m.group("ext")
        found.append((m.start(), m.end(), value))
    for m in _SERVICE_RE.finditer(s):
        value = "".join(m.groups())
        if len(value) != 10 or _joined_to_other_digits(s, m.start(), m.end(), True):
            continue
        found.append((m.start(), m.end(), value))
    for m in _CN_PHONE_RE.finditer(s):
        value = m.group().translate(_CN_PHONE_TABLE)
        if _MOBILE_VALUE_RE.fullmatch(value):
            found.append((m.start(), m.end(), value))
    found.sort()
    for start, end, value in found:
        if _free(claimed, start, end):
            out.append((start, end, "phone", value))
            _claim(claimed, start, end)


# =========================================================================== time

_CN_NUM = "零〇一二两三四五六七八九十"
_HOUR = rf"(?:\d{{1,2}}|[{_CN_NUM}]{{1,3}})"
_MINUTE = rf"(?:\d{{1,2}}(?!\d)|[{_CN_NUM}]{{1,3}})"
_CLOCK_TAIL = rf"(?:钟)?(?:半|一刻|三刻|整|过?{_MINUTE}分?)?"
_TIME_SUFFIX = r"(?:左右|前后|以后|之后|以前|之前|多钟|多|后|前)?"
# Any clock time; only allowed right after a day / part-of-day word ("昨晚十点").
_CLOCK_ANY = (
    rf"(?:\d{{1,2}}:\d{{2}}(?!\d)|{_HOUR}(?:[-~到至]{_HOUR})?[点时]{_CLOCK_TAIL}){_TIME_SUFFIX}"
)
# A clock time that stands alone.  Chinese numerals + 点 alone are not enough: "快一点",
# "有两点建议"; they need a tail that only a clock time has (钟, 半, 分, 以后 …).
_CLOCK_STRICT = (
    rf"(?<![\d.])(?:\d{{1,2}}:\d{{2}}(?!\d){_TIME_SUFFIX}"
    rf"|\d{{1,2}}(?:[-~到至]\d{{1,2}})?[点时]{_CLOCK_TAIL}{_TIME_SUFFIX}"
    rf"|[{_CN_NUM}]{{1,3}}(?:[-~到至][{_CN_NUM}]{{1,3}})?[点时]"
    rf"(?:钟|半|一刻|三刻|整|[{_CN_NUM}]{{1,3}}分|左右|前后|以后|之后|以前|之前){_TIME_SUFFIX}"
    # "两点多" is a time, "一点多" is usually "a bit more than one …".
    rf"|(?!一点)[{_CN_NUM}]{{1,3}}点多(?:钟)?)"
)
_MONTH = r"(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_DAY = (
    r"(?:3[01]|[12]\d|0?[1-9]|三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?"
    r"|[一二三四五六七八九])"
)
_MONTH_TAIL = rf"(?:份|{_DAY}[日号]|初|底|中旬|上旬|下旬)?"
_DATE = (
    r"(?<!\d)(?:"
    rf"(?:\d{{4}}|[零〇一二三四五六七八九]{{4}})年(?:{_MONTH}月{_MONTH_TAIL})?"
    rf"|{_MONTH}月{_MONTH_TAIL}"
    r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)"
    r")"
)


def _product(*parts: str) -> list[str]:
    """All concatenations of one word from each space-separated part ("-" = empty)."""
    words = [""]
    for part in parts:
        options = ["" if w == "-" else w for w in part.split()]
        words = [w + o for w in words for o in options]
    return words


_WEEKDAYS = "一 二 三 四 五 六 日 天 末 1 2 3 4 5 6 7"
# Day words are plain literals, so they are compiled as a trie: an alternation of a few
# hundred words costs one step per character instead of one attempt per word.
_DAY_WORDS: Final = frozenset(
    _product("大前 前 昨 今 明 后 大后", "天")
    + _product("昨 今 明 当 前", "日 早 晚 晨 夜")
    + _words("当天 那天 这天 那晚 这晚 天天 夜夜 月初 月底 月末 年初 年底 年末")
    + _product("每", "天 日 晚 夜 周 个礼拜 个星期 礼拜 星期 周末 个周末 月 个月 晚上 早上 个晚上")
    + _product("每", "周 星期 礼拜", _WEEKDAYS)
    + _product("上上 上个 下个 这个 上 下 这 本", "周 星期 礼拜", "- " + _WEEKDAYS)
    + _product("周 星期 礼拜", _WEEKDAYS)
    + _product("上个 下个 这个 上 下 这 本", "月", "- 初 底 中 末")
    + _product("今 去 前 明", "年", "- 初 底")
    + _words(
        "前几天 这几天 近几天 这两天 前两天 这些天 最近几天 前些天 过几天 这几周 前几周 "
        "这段时间 前段时间 前一段时间 前阵子 这阵子 近期 近来 近日 刚才 刚刚 方才 "
        "节假日 工作日 过年 春节 国庆 国庆节 中秋 中秋节 元旦 端午 端午节 清明 清明节 劳动节 "
        "寒假 暑假 半夜三更 大半夜 一大早 大清早 通宵 一整天 一整晚 一整夜 整天 整晚 整夜"
    )
)
_DAY_REL = (
    f"(?:{trie_regex(_DAY_WORDS)}"
    # 最近的医院 is "the nearest hospital"; 五一路 / 五一广场 are places.
    r"|最近(?!的)|五一(?![路街广大]))"
)
_PART_WORDS: Final = frozenset(
    _words(
        "凌晨 清晨 早上 早晨 一早 上午 中午 正午 午后 下午 傍晚 黄昏 晚上 晚间 夜里 夜间 夜晚 "
        "半夜 深夜 午夜 白天 黑夜"
    )
)
_PART = f"(?:{trie_regex(_PART_WORDS)})"
_DURATION = (
    r"(?<![\d.])(?:第|好|近|快|大|将近|差不多)?"
    rf"(?:\d+(?:\.\d+)?|[{_CN_NUM}百几]+|半)"
    r"(?:个(?:多|半)?(?:月|星期|礼拜|小时|钟头|晚上|白天|周末|周)"
    r"|(?:多|半)?(?:分钟|小时|钟头|天|晚上|夜|周|星期|礼拜|年(?![级纪龄代轻货薪度终会费检卡假])))"
    r"(?:多|半)?(?:了|以来|之久|左右|以前|以后|之前|之后|前|后)?"
)
_TIME_RE = re.compile(
    rf"(?:{_DATE}|{_DAY_REL})(?:{_PART})?(?:{_CLOCK_ANY}|以前|之前|以后|之后|左右)?"
    rf"|{_PART}(?:{_CLOCK_ANY})?"
    rf"|{_CLOCK_STRICT}"
    rf"|{_DURATION}"
)
# Every character a time expression can start with (digits, numerals, the first character
# of each word above).  tests/nlu/test_entities.py checks it against the word lists.
_TIME_FIRST_CHARS: Final = (
    "0123456789零〇一二两三四五六七八九十百几半"
    "大前昨今明后当那这每天夜上下本周星礼去月年近最刚方节工过春国中元端清劳五寒暑通整"
    "凌早正午傍黄晚深白黑第好快将差"
)
_TIME_TRIGGER_RE = re.compile(f"[{_TIME_FIRST_CHARS}]")
# "晚上十点到十二点": after a range word a bare clock time continues the expression.
_TIME_CONTINUATION_RE = re.compile(rf"(?:一直到|直到|到|至|~|-|—)(?:{_PART})?{_CLOCK_ANY}")
_TIME_JOINERS: Final = frozenset(
    {"", " ", "到", "至", "~", "-", "—", "、", "和", "或", "的", "直到"}
)


def _find_times(s: str, claimed: bytearray, out: list[tuple[int, int, str, str]]) -> None:
    spans: list[list[int]] = []
    for m in _scan(_TIME_TRIGGER_RE, _TIME_RE, s, claimed):
        start, end = m.span()
        if end == start or not _free(claimed, start, end):
            continue
        # "好几天了晚上…": an expression closed by 了 is a sentence end, not a range start.
        if spans and s[spans[-1][1] : start] in _TIME_JOINERS and s[spans[-1][1] - 1] != "了":
            spans[-1][1] = end
        else:
            spans.append([start, end])
    for span in spans:
        cont = _TIME_CONTINUATION_RE.match(s, span[1])
        if cont and _free(claimed, cont.start(), cont.end()):
            span[1] = cont.end()
        start, end = span
        out.append((start, end, "time", s[start:end]))
        _claim(claimed, start, end)


# =========================================================================== addresses


def _find_addresses(
    s: str,
    text: str,
    aligned: AlignedText,
    claimed: bytearray,
    out: list[tuple[int, int, str, str]],
    message: MessagePlaces | None = None,
) -> None:
    """Places from :mod:`nlu.address`, valued in the resident's own characters.

    A time claimed inside a place's name gives way to the place: in "住在金科10年城3期"
    10年 is part of the estate's name, not a time.  Such a time (a name character before
    it, a type word after it) is released for the place scan and dropped when a place's
    name holds it; otherwise it stays a time.  ``message`` lends its scan of the whole
    message when nothing is claimed (see :class:`nlu.address.MessagePlaces`).
    """
    loose = [
        (start, end)
        for start, end, name, _ in out
        if name == "time" and may_hold_time(s, start, end)
    ]
    places: list[PlaceSpan] = []
    while True:
        trial = bytearray(claimed)
        for start, end in loose:
            trial[start:end] = bytes(end - start)
        places = scan_places(s, trial, message)
        held = [
            (start, end)
            for start, end in loose
            if any(a <= start and end <= b for p in places for a, b in p.names)
        ]
        if held == loose:
            break
        loose = held  # a released time no place holds: claim it again and rescan
    if loose:
        out[:] = [e for e in out if e[2] != "time" or (e[0], e[1]) not in loose]
    claimed[:] = trial
    for place in places:
        out.append((place.start, place.end, "address", _as_typed(s, text, aligned, place)))


def _as_typed(s: str, text: str, aligned: AlignedText, place: PlaceSpan) -> str:
    """The place as the resident typed it (``C5栋``, ``Ｂ区``), traditional → simplified.

    Letters, digits and full-width forms keep their case and width (a lower-cased ``c5栋``
    is not the building's name); CJK characters take the simplified form so that grid
    routing keywords (``朝阳区``) match a message typed in traditional characters.
    """
    chars = []
    for i in range(place.start, place.end):
        original = text[aligned.offsets[i]]
        typed_form = original < "\u2e80" or "\uff00" <= original <= "\uffef"
        chars.append(original if typed_form else s[i])
    return "".join(chars)


# =========================================================================== entry point

_ANY_DIGIT_RE = re.compile(f"[0-9{_CN_PHONE_DIGITS}]")


def extract_entities(text: str, message: MessagePlaces | None = None) -> list[Entity]:
    """Extract phone, id_number, ticket_id, time and address entities from ``text``.

    Spans index ``text`` itself; results are sorted by ``start`` and do not overlap.
    ``message`` (built from ``text``) shares its normalisation and place scan with the
    other readers of the message's places (the parser's name masking).
    """
    if not text:
        return []
    if message is None:
        aligned = normalize_aligned(text)
    else:
        assert message.text == text, "the message's places are of another text"
        aligned = message.aligned
    s = aligned.text
    claimed = bytearray(len(s))
    found: list[tuple[int, int, str, str]] = []
    if _ANY_DIGIT_RE.search(s):
        _find_id_numbers(s, claimed, found)
        _find_tickets(s, claimed, found)
        _find_phones(s, claimed, found)
    _find_times(s, claimed, found)
    _find_addresses(s, text, aligned, claimed, found, message)
    found.sort()
    entities = []
    for start, end, name, value in found:
        o_start, o_end = aligned.original_span(start, end)
        entities.append(Entity(name, value, o_start, o_end))
    return entities
