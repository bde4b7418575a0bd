"""Rule-based entity extraction for residents' messages.

:func:`extract_entities` finds ``phone``, ``id_number``, ``ticket_id``, ``time`` and
``address`` entities.  It runs on :func:`nlu.normalize.normalize_aligned` text (full-width
folded, traditional → simplified, lower-case) and reports ``start``/``end`` as character
offsets into the ORIGINAL message, Rasa-style.  Results are sorted and never overlap.

Extractors run in a fixed order and each claims its characters, so a later, vaguer one
cannot reuse them: ID numbers, then ticket ids, then phones, then times, then addresses.
This is what keeps ``20261123-0042`` (ticket), ``110105199001011234`` (ID),
``2026年11月23日`` (time) or ``3栋502室`` (address) from ever being read as phone numbers.

Values are normalised: phones are digits only (``13812345678``; landlines keep the area
code, ``01012345678``, an extension follows a dash), ID numbers are ALWAYS masked
(``110105********1234``), ticket ids are ``YYYYMMDD-NNNN``, times and addresses are the
normalised matched text.

Addresses are recognised from components — administrative divisions (a gazetteer in
``nlu/resources/admin_divisions.txt``), named roads, estates and landmarks (a name plus a
suffix such as 路/小区/地铁站), building/unit/room numbers and relational words (门口,
对面, 东门…) — and the maximal run of adjacent components is one entity.
:func:`address_specificity` grades a location from "vague" (小区门口, 我家楼下) to "exact"
(幸福小区3号楼2单元502室); :func:`is_specific_location` says whether it is precise enough
to send someone.

Design choices worth knowing:

* ``马路上`` / ``马路边`` and ``我家楼下`` are extracted as (vague) places: the dialogue can
  then ask "which road?" instead of "where?".  A bare ``路上`` or ``门口`` is not.
* A bare district name (朝阳, 南山, 西湖 …) is a place only next to another address part
  (朝阳望京街道); bare province/prefecture names count on their own unless they are also
  everyday words (中山, 大庆, 日照 … marked ``~`` in the gazetteer).
* Phones in Chinese digits (voice input) are taken only when exactly 11 digits form a
  valid mobile number.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Final

from nlu.normalize import normalize_aligned
from nlu.pii import mask_id_number

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

_Trie = dict[str, "_Trie"]


def _trie_regex(words: Iterable[str]) -> str:
    """An alternation of ``words`` factored into a trie, longest match first.

    Python's ``re`` tries alternatives one by one; with hundreds of place names a flat
    alternation costs tens of microseconds per message, the trie form about one.
    """
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return build(trie)


def _words(text: str) -> list[str]:
    """Split a space-separated word list (long lists read better as one string)."""
    return text.split()


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


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

_ID_PROVINCES: Final = frozenset(
    _words(
        "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
        "61 62 63 64 65 71 81 82 83 91"
    )
)
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"

# Patterns start with a character class and check the preceding character with a
# lookbehind after it, so re can skip ahead to candidates in C (see _scan).
_ID18_RE = re.compile(
    r"([1-9](?<!\d\d)\d{5}) ?((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])) ?"
    r"(\d{3}[\dx])(?![\dx])"
)
_ID15_RE = re.compile(
    r"([1-9](?<!\d\d)\d{5})(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(\d{3})(?!\d)"
)


def _valid_birth_date(yyyymmdd: str) -> bool:
    try:
        born = _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return _dt.date(1890, 1, 1) <= born <= _dt.date.today()


def is_valid_id_number(number: str) -> bool:
    """Whether ``number`` is a valid resident ID number (GB 11643-1999).

    18 characters: province code, valid birth date, checksum (last may be ``X``).
    15 characters (pre-1999 form): province code and a valid 19YYMMDD birth date.
    """
    n = number.strip().upper()
    if len(n) == 18:
        if not (n[:17].isdigit() and (n[17].isdigit() or n[17] == "X")):
            return False
        if n[:2] not in _ID_PROVINCES or not _valid_birth_date(n[6:14]):
            return False
        total = sum(int(d) * w for d, w in zip(n[:17], _ID_WEIGHTS, strict=True))
        return _ID_CHECK[total % 11] == n[17]
    if len(n) == 15 and n.isdigit():
        return n[:2] in _ID_PROVINCES and _valid_birth_date("19" + n[6:12])
    return False


def _find_id_numbers(s: str, claimed: bytearray, out: list[tuple[int, int, str, str]]) -> None:
    for regex in (_ID18_RE, _ID15_RE):
        for m in regex.finditer(s):
            number = "".join(m.groups()).upper()
            if is_valid_id_number(number) and _free(claimed, m.start(), m.end()):
                out.append((m.start(), m.end(), "id_number", mask_id_number(number)))
                _claim(claimed, m.start(), m.end())


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
    f"(?:{_trie_regex(_DAY_WORDS)}"
    # 最近的医院 is "the nearest hospital"; 五一路 / 五一广场 are places.
    r"|最近(?!的)|五一(?![路街广大]))"
)
_PART_WORDS: Final = frozenset(
    _words(
        "凌晨 清晨 早上 早晨 一早 上午 中午 正午 午后 下午 傍晚 黄昏 晚上 晚间 夜里 夜间 夜晚 "
        "半夜 深夜 午夜 白天 黑夜"
    )
)
_PART = f"(?:{_trie_regex(_PART_WORDS)})"
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


class Specificity(IntEnum):
    """How precisely a location pins down a place."""

    NONE = 0  # not a location
    VAGUE = 1  # a place without a name: 小区门口, 我家楼下, 马路上, 3号楼2单元
    AREA = 2  # a named area or line: 朝阳区, 望京街道, 幸福路, 幸福小区
    SPECIFIC = 3  # someone can be sent: 幸福路88号, 幸福小区3号楼, 幸福小区门口, 望京地铁站
    EXACT = 4  # down to the door: 幸福小区3号楼2单元502室


@dataclass(frozen=True, slots=True)
class _Suffix:
    kind: str  # road / estate / poi / area / vague
    min_name: int  # name length needed for a named place; 0: the word is a name itself
    bare: bool  # kept without a name (then only counts with a relational word)
    not_before: str = ""  # characters that must not follow (路灯, 广场舞, 弄坏)


_ROAD = "road"
_ESTATE = "estate"
_POI = "poi"
_AREA_KIND = "area"  # 街道 / 镇 / 乡 / 村 / 社区 / 县 / 开发区
_ADMIN = "admin"  # gazetteer province / prefecture / district
_VAGUE = "vague"  # 我家, 马路: places only with a relational word
_BUILDING = "building"
_UNIT = "unit"
_ROOM = "room"
_FLOOR = "floor"
_HOUSE = "house"  # 88号, 88号院
_LANE = "lane"  # 123弄
_SHORTHAND = "shorthand"  # 3-2-502

_SUFFIXES: Final[dict[str, _Suffix]] = {
    # roads
    "路": _Suffix(_ROAD, 2, False, "灯费线由途程况政障基肩沿网标径子数牌"),
    "大道": _Suffix(_ROAD, 2, False),
    "大街": _Suffix(_ROAD, 2, False),
    "街": _Suffix(_ROAD, 2, False, "道坊头舞区"),
    "巷": _Suffix(_ROAD, 2, False, "子战"),
    "胡同": _Suffix(_ROAD, 2, False),
    "弄": _Suffix(_ROAD, 2, False, "坏脏乱得到的好清明完成出掉堂"),
    # sub-district units
    "街道办事处": _Suffix(_AREA_KIND, 2, True),
    "街道办": _Suffix(_AREA_KIND, 2, True),
    "街道": _Suffix(_AREA_KIND, 2, True),
    "社区居委会": _Suffix(_AREA_KIND, 2, True),
    "居委会": _Suffix(_AREA_KIND, 2, True),
    "村委会": _Suffix(_AREA_KIND, 2, True),
    "社区": _Suffix(_AREA_KIND, 2, True),
    "镇": _Suffix(_AREA_KIND, 2, False, "压静定长痛守"),
    "乡": _Suffix(_AREA_KIND, 2, False, "下村亲音镇愁"),
    "村": _Suffix(_AREA_KIND, 2, False, "民委长"),
    "县": _Suffix(_AREA_KIND, 2, False, "长委"),
    "开发区": _Suffix(_AREA_KIND, 0, True),
    "高新区": _Suffix(_AREA_KIND, 0, True),
    "经开区": _Suffix(_AREA_KIND, 0, True),
    "新区": _Suffix(_AREA_KIND, 2, False),
    "工业园区": _Suffix(_AREA_KIND, 2, True),
    "工业园": _Suffix(_AREA_KIND, 2, True),
    "产业园": _Suffix(_AREA_KIND, 2, True),
    "科技园": _Suffix(_AREA_KIND, 2, True),
    "园区": _Suffix(_AREA_KIND, 2, True),
    # estates and buildings
    "小区": _Suffix(_ESTATE, 2, True),
    "花园": _Suffix(_ESTATE, 2, True),
    "家园": _Suffix(_ESTATE, 2, False),
    "新村": _Suffix(_ESTATE, 2, False),
    "公寓": _Suffix(_ESTATE, 2, True),
    "大厦": _Suffix(_ESTATE, 2, True),
    "广场": _Suffix(_ESTATE, 2, True, "舞"),
    "苑": _Suffix(_ESTATE, 2, False),
    "里": _Suffix(_ESTATE, 2, False, "面边头外屋"),
    "大院": _Suffix(_ESTATE, 2, True),
    "家属院": _Suffix(_ESTATE, 2, True),
    "家属楼": _Suffix(_ESTATE, 2, True),
    "宿舍楼": _Suffix(_ESTATE, 2, True),
    "宿舍": _Suffix(_ESTATE, 2, True),
    "山庄": _Suffix(_ESTATE, 2, False),
    "公馆": _Suffix(_ESTATE, 2, False),
    "别墅区": _Suffix(_ESTATE, 2, True),
    "别墅": _Suffix(_ESTATE, 2, False),
    "城": _Suffix(_ESTATE, 2, False, "管市区里外乡中墙门楼际"),
    "府": _Suffix(_ESTATE, 2, False, "上里"),
    "园": _Suffix(_ESTATE, 2, False, "区长林艺丁"),
    "大楼": _Suffix(_ESTATE, 2, True),
    "写字楼": _Suffix(_ESTATE, 2, True),
    "办公楼": _Suffix(_ESTATE, 2, True),
    "教学楼": _Suffix(_ESTATE, 2, True),
    "住宅楼": _Suffix(_ESTATE, 2, True),
    "综合楼": _Suffix(_ESTATE, 2, True),
    "商务楼": _Suffix(_ESTATE, 2, True),
    # landmarks
    **{
        word: _Suffix(_POI, 2, True)
        for word in _words(
            "地铁站 地铁口 公交站 公交车站 车站 火车站 高铁站 汽车站 客运站 加油站 充电站 "
            "垃圾站 变电站 菜市场 农贸市场 菜场 市场 超市 商场 购物中心 步行街 商业街 "
            "学校 小学 中学 大学 学院 幼儿园 医院 卫生院 卫生服务中心 诊所 药店 公园 银行 "
            "派出所 警务室 政府 服务中心 停车场 体育馆 体育场 图书馆 博物馆 电影院 剧院 "
            "酒店 宾馆 饭店 餐厅 立交桥 天桥 大桥 隧道 地下通道 工地 工厂 码头 机场"
        )
    },
    "站": _Suffix(_POI, 2, False, "着住起在岗长点台出立"),
    "桥": _Suffix(_POI, 2, False, "梁牌"),
    "厂": _Suffix(_POI, 2, False, "家商长房区"),
    "寺": _Suffix(_POI, 2, False),
    "庙": _Suffix(_POI, 2, False),
    # vague anchors: places only with a relational word (我家楼下, 马路上)
    **{
        word: _Suffix(_VAGUE, 0, True)
        for word in _words("我家 我们家 咱家 俺家 他家 她家 你家 家 马路")
    },
}
# Roads whose name ends like this are common nouns, not names (过马路, 高速公路, 修路).
_GENERIC_ROAD_PREV: Final = frozenset(
    "马道铁线电思出走迷修退问带让绕挡断短套岔弯近半活死网土小公末歧夜赶引拦堵封抢挖铺筑改上"
)
# Characters that never belong to a place name: a name stops before them.
_STOP_CHARS: Final = frozenset(
    "在住是到的我你他她它们从于往去向了就都也还很说问请帮要想能会把被让给对没不吗呢吧啊呀哦嗯"
    "这那哪咱有个条些么什啥谁怎为因所但而却又再才刚已得着过与及或跟并该每"
)
_STOP_WORDS_RE = re.compile(
    "一下|一趟|附近|旁边|对面|门口|楼下|楼上|隔壁|里面|外面|上面|下面|前面|后面|关于|反映|"
    "投诉|举报|咨询|地址|位置|住址|现在|目前|今天|昨天|晚上|早上|情况|问题|一直|经常|总是|"
    "老是|所在|居住|家住|位于|搬到|市民|居民|业主|老人|孩子|小孩|物业|一个|一条|一栋|整个|"
    "这边|那边|这里|那里|哪里|东西|所有|全部|我家|家里|本人|你好|您好|另外|然后|其实|比如|"
    "例如|包括|尤其|特别|好像|如果|虽然|同时|之前|之后|以前|以后|顺便|麻烦|谢谢|帮忙|报修|"
    "处理|解决|看看|小区|还有|以及"
)
_MAX_NAME: Final = 8
_REL_MULTI = (
    "大门口|门口|大门|旁边|附近|对面|周边|周围|边上|隔壁|拐角处|拐角|十字路口|交叉口|交汇处|"
    "路口|[东西南北正后侧]门|[东西南北中]段|[东西南北]{1,2}(?:侧|边|角|面)|楼下|楼上|楼道里|楼道|里面|外面|"
    "前面|后面|底下|下面|门前|[a-z]\\d{0,2}出?口|出口|入口"
)
_REL_MULTI_RE = re.compile(f"(?:{_REL_MULTI})")
_REL_SINGLE: Final[dict[str, str]] = {
    _ROAD: "上边口",
    _VAGUE: "上边里",
    _ESTATE: "里",
    _POI: "里",
    _AREA_KIND: "里",
}
_VAGUE_HOME_PREV: Final = frozenset("大回全国专作商店住老管农酒买卖厂人东船行私娘婆搬离成安")

_NUM = r"(?:\d{1,5}|[零〇一二两三四五六七八九十百]{1,4})"
_NUMBER_COMP_RE = re.compile(
    r"(?<![\d.a-z])(?:"
    r"(?P<shorthand>\d{1,3}-\d{1,2}-\d{2,4})(?![\d-])"
    rf"|(?P<building>(?:{_NUM}号楼|(?:\d{{1,4}}[a-z]?|[a-z]\d{{0,2}})(?:号楼|栋|幢|座)))"
    rf"|(?P<unit>{_NUM}单元)"
    rf"|(?P<room>{_NUM}(?:室|号房|房间))"
    rf"|(?P<floor>{_NUM}层|\d{{1,2}}楼(?![道梯顶房]))"
    rf"|(?P<lane>\d{{1,4}}弄)"
    rf"|(?P<house>\d{{1,5}}(?:[-之]\d{{1,4}})?号(?:院)?(?![线码楼房]|门(?!口|前))|{_NUM}号院)"
    r")"
)
_NUMBER_TRIGGER_RE = re.compile(r"[\d零〇一二两三四五六七八九十百a-z]")
_BARE_ROOM_RE = re.compile(r"\d{3,4}(?![\d号楼栋层室单元a-z])")


@dataclass(slots=True)
class _Comp:
    start: int
    end: int
    kind: str
    named: bool = True
    weak: bool = False
    rel: bool = False


@dataclass(frozen=True, slots=True)
class _Gazetteer:
    names_re: re.Pattern[str]  # every full name and alias, longest match first
    full: frozenset[str]  # names with their suffix: 北京市, 朝阳区
    weak_bare: frozenset[str]  # aliases that are places only next to another component


@cache
def _gazetteer() -> _Gazetteer:
    """Load the administrative-division names once (on first address extraction)."""
    text = resources.files("nlu.resources").joinpath("admin_divisions.txt").read_text("utf-8")
    full: set[str] = set()
    strong: set[str] = set()
    weak: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        level, name, *aliases = parts
        full.add(name)
        for alias in aliases:
            bare = alias.lstrip("~")
            if level == "D" or alias.startswith("~"):
                weak.add(bare)
            else:
                strong.add(bare)
    weak -= strong
    return _Gazetteer(
        names_re=re.compile(_trie_regex(full | strong | weak)),
        full=frozenset(full),
        weak_bare=frozenset(weak - full),
    )


_SUFFIX_RE = re.compile(_trie_regex(_SUFFIXES))


def _name_start(s: str, start: int, taken: bytearray) -> int:
    """Walk left from a suffix over the characters that can form its place name."""
    i = start
    while i > 0 and start - i < _MAX_NAME:
        ch = s[i - 1]
        if taken[i - 1] or ch in _STOP_CHARS or not (_is_cjk(ch) or "a" <= ch <= "z"):
            break
        i -= 1
    if i < start:
        # Cut at the last filler word inside the candidate ("反映一下幸福路" → 幸福).
        last = None
        for last in _STOP_WORDS_RE.finditer(s, i, start):  # noqa: B007 - we want the last
            pass
        if last is not None:
            i = last.end()
    return i


def _address_components(s: str, claimed: bytearray) -> list[_Comp]:
    """Find the address components of ``s`` outside the ``claimed`` characters."""
    gaz = _gazetteer()
    taken = bytearray(claimed)
    comps: list[_Comp] = []

    def add(comp: _Comp) -> None:
        comps.append(comp)
        _claim(taken, comp.start, comp.end)

    # 1. Administrative divisions written with their suffix: 北京市, 朝阳区, 浦东新区.
    #    Bare names (北京, 朝阳) wait for step 4: 中山路 is a road before 中山 is a city.
    bare_names: list[tuple[int, int, str]] = []
    for m in gaz.names_re.finditer(s):
        start, end = m.span()
        name = m.group()
        if end == start or not _free(taken, start, end):
            continue
        if name not in gaz.full or (name[-1] == "市" and s[end : end + 1] in ("场", "民")):
            # 南京市场, 北京市民: the bare name may still be a place.
            bare_names.append((start, end, name))
            continue
        add(_Comp(start, end, _ADMIN))

    # 2. Numbers: 3号楼 2单元 502室 88号 3-2-502, and a bare room number after a building.
    for m in _scan(_NUMBER_TRIGGER_RE, _NUMBER_COMP_RE, s, taken):
        start, end = m.span()
        kind = m.lastgroup or _HOUSE
        if not _free(taken, start, end):
            continue
        weak = kind in (_UNIT, _FLOOR, _LANE, _SHORTHAND) or (
            kind == _HOUSE and not s.endswith("院", start, end)
        )
        add(_Comp(start, end, kind, weak=weak))
        if kind in (_BUILDING, _UNIT):
            room = _BARE_ROOM_RE.match(s, end)
            if room and _free(taken, room.start(), room.end()):
                add(_Comp(room.start(), room.end(), _ROOM))

    # 3. Named places: a name followed by a suffix (幸福路, 幸福小区, 望京地铁站).
    by_end: dict[int, _Comp] = {}
    for m in _SUFFIX_RE.finditer(s):
        start, end = m.span()
        if end == start or not _free(taken, start, end):
            continue
        word = m.group()
        suffix = _SUFFIXES[word]
        if suffix.not_before and s[end : end + 1] and s[end] in suffix.not_before:
            continue
        if suffix.kind == _VAGUE:
            if word == "家" and start > 0 and s[start - 1] in _VAGUE_HOME_PREV:
                continue
            if _relational(s, end, _VAGUE, taken) is None:
                continue
            add(_Comp(start, end, _VAGUE, named=False))
            continue
        name_start = _name_start(s, start, taken)
        comp_start = name_start
        previous = by_end.get(start)
        if suffix.kind == _ROAD and previous is not None and name_start == start:
            # 花园路, 学院路, 大学路: the "name" was read as an estate/landmark first.
            comps.remove(previous)
            comp_start = previous.start
        name = s[comp_start:start]
        if suffix.kind == _ROAD and name and name[-1] in _GENERIC_ROAD_PREV and word == "路":
            continue
        if suffix.min_name == 0 or len(name) >= suffix.min_name:
            comp = _Comp(comp_start, end, suffix.kind, named=True, weak=word == "里")
        elif suffix.bare:
            comp = _Comp(start, end, suffix.kind, named=False, weak=True)
        else:
            continue
        add(comp)
        by_end[end] = comp

    # 4. Bare province / city / district names (上海, 朝阳 …) where nothing else matched.
    for start, end, name in bare_names:
        if name in gaz.full:  # 北京市 in 北京市民: keep only 北京
            name = name[:-1]
            end -= 1
        if _free(taken, start, end):
            add(_Comp(start, end, _ADMIN, weak=name in gaz.weak_bare))

    comps.sort(key=lambda c: c.start)
    # Relational words: 门口, 对面, 东门, 地铁站a口 … make a nameless place usable.
    for comp in comps:
        for _ in range(2):
            rel_end = _relational(s, comp.end, comp.kind, taken)
            if rel_end is None:
                break
            _claim(taken, comp.end, rel_end)
            comp.end = rel_end
            comp.rel = True
            comp.weak = False
    return comps


def _relational(s: str, pos: int, kind: str, taken: bytearray) -> int | None:
    """End of a relational word (门口, 附近, 东门, 上 …) starting at ``pos``, if any."""
    m = _REL_MULTI_RE.match(s, pos)
    if m and _free(taken, pos, m.end()):
        return m.end()
    singles = _REL_SINGLE.get(kind, "")
    if singles and s[pos : pos + 1] and s[pos] in singles and not taken[pos]:
        return pos + 1
    return None


_NUMBER_KINDS: Final = frozenset({_BUILDING, _UNIT, _ROOM, _FLOOR, _HOUSE, _LANE, _SHORTHAND})


def _joinable(s: str, left: _Comp, right: _Comp) -> bool:
    gap = s[left.end : right.start]
    if gap in ("", " "):
        return True
    if gap == "的":
        return right.kind in _NUMBER_KINDS or right.rel
    if gap in ("与", "和", "跟", "及", "交"):
        return left.kind == _ROAD and right.kind == _ROAD
    return False


def _address_groups(s: str, claimed: bytearray) -> list[list[_Comp]]:
    """Maximal runs of adjacent components that contain at least one strong component."""
    groups: list[list[_Comp]] = []
    for comp in _address_components(s, claimed):
        if groups and _joinable(s, groups[-1][-1], comp):
            groups[-1].append(comp)
        else:
            groups.append([comp])
    return [group for group in groups if any(not c.weak for c in group)]


def _find_addresses(s: str, claimed: bytearray, out: list[tuple[int, int, str, str]]) -> None:
    for group in _address_groups(s, claimed):
        start, end = group[0].start, group[-1].end
        out.append((start, end, "address", s[start:end]))
        _claim(claimed, start, end)


def _group_specificity(group: list[_Comp]) -> Specificity:
    kinds = [c.kind for c in group if c.named]
    roads = kinds.count(_ROAD)
    named_place = bool(roads) or _ESTATE in kinds or _POI in kinds
    village = any(c.kind == _AREA_KIND and c.named for c in group)
    # 阳光花园小区北门: the relational word may hang on the unnamed 小区 after the name.
    rel = any(c.rel for c in group if c.kind in (_ROAD, _ESTATE, _POI, _AREA_KIND))
    building = any(c.kind in (_BUILDING, _SHORTHAND) for c in group)
    detail = any(c.kind in (_UNIT, _ROOM, _FLOOR, _SHORTHAND) for c in group)
    house = any(c.kind in (_HOUSE, _LANE) for c in group)
    if (named_place or village) and building and detail:
        return Specificity.EXACT
    if named_place and (_ROOM in kinds or _SHORTHAND in kinds):
        return Specificity.EXACT
    if (
        (roads and (house or rel or roads >= 2 or building))
        or (_ESTATE in kinds and (building or rel or house or detail))
        or _POI in kinds
        or (village and (building or house))
    ):
        return Specificity.SPECIFIC
    if named_place or village or _ADMIN in kinds:
        return Specificity.AREA
    return Specificity.VAGUE


def address_specificity(value: str) -> Specificity:
    """Grade how precisely ``value`` (an address entity's value, or any text) locates a place.

    >>> address_specificity("小区门口"), address_specificity("幸福小区门口")
    (<Specificity.VAGUE: 1>, <Specificity.SPECIFIC: 3>)
    """
    s = normalize_aligned(value).text
    groups = _address_groups(s, bytearray(len(s)))
    if not groups:
        return Specificity.NONE
    return max(_group_specificity(group) for group in groups)


def is_specific_location(value: str) -> bool:
    """Whether a location is precise enough to send someone there.

    True for a named road with a house number or an intersection, an estate with a
    building or a relational word (幸福小区门口), a named landmark (望京地铁站); False
    for 小区门口, 我家楼下, a district or a road name alone.
    """
    return address_specificity(value) >= Specificity.SPECIFIC


# =========================================================================== entry point

_ANY_DIGIT_RE = re.compile(f"[0-9{_CN_PHONE_DIGITS}]")


def extract_entities(text: str) -> list[Entity]:
    """Extract phone, id_number, ticket_id, time and address entities from ``text``.

    Spans index ``text`` itself; results are sorted by ``start`` and do not overlap.
    """
    if not text:
        return []
    aligned = normalize_aligned(text)
    s = aligned.text
    claimed = bytearray(len(s))
    found: list[tuple[int, int, str, str]] = []
    if _ANY_DIGIT_RE.search(s):
        _find_id_numbers(s, claimed, found)
        _find_tickets(s, claimed, found)
        _find_phones(s, claimed, found)
    _find_times(s, claimed, found)
    _find_addresses(s, claimed, found)
    found.sort()
    entities = []
    for start, end, name, value in found:
        o_start, o_end = aligned.original_span(start, end)
        entities.append(Entity(name, value, o_start, o_end))
    return entities
