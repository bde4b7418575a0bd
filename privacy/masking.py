"""Masking personal data for display and logs, and redacting it before it is stored.

Two operations on free text, built on :func:`privacy.numbers.find_numbers`:

* :func:`redact` — **before anything is stored or cached** (chat memory, handoff
  messages, review items, ticket descriptions and chat, the dialogue's case, the reply
  cache). ID numbers (certain and likely) and bank cards that pass the Luhn check are
  masked for good; phone numbers too, unless ``keep_phones`` (the phone field of a ticket
  holds the one number staff call back). Addresses are kept: they are what a complaint is
  about.
* :func:`mask_text` — **for display and logs**: everything :func:`redact` masks, phones
  always, every 16–19-digit card-like run, and the numbers of houses, buildings, units
  and rooms (``幸福小区*号楼*单元*室``: the estate and road names stay, so a log line or an
  unrevealed console page is still useful). It never raises: a line it cannot mask is
  withheld.

The masked forms keep what identifies the number's kind and hides what identifies the
person: phones ``138****5678`` (``+86 138****5678``, ``010****5678``, ``幺三八****五六七八``),
ID numbers ``110105********123X`` (15 digits: ``130503*****1001``), bank cards
``6222****0123``. Digits keep the width they were typed in; separators inside the number
are dropped.

For fields: :func:`mask_phone` (a phone field: ``138****5678``), :func:`mask_address`
(the district and street kept, the rest ``****``), :func:`mask_openid` (first and last
four characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from privacy.numbers import Found, find_numbers

__all__ = [
    "MASK",
    "WITHHELD",
    "mask_address",
    "mask_found",
    "mask_openid",
    "mask_phone",
    "mask_text",
    "redact",
]

MASK: Final = "****"
#: what a log line becomes when masking it failed (logging it unmasked would be worse)
WITHHELD: Final = "<log line withheld: personal-data masking failed>"

_KEEP: Final = {"phone": (3, 4), "id_number": (6, 4), "bank_card": (4, 4)}


def mask_found(text: str, found: Found) -> str:
    """The masked form of one number found in ``text`` (see the module docstring)."""
    head, tail = _KEEP[found.kind]
    digits = found.digits
    hidden = "*" * (len(digits) - head - tail) if found.kind == "id_number" else MASK
    return (
        text[found.start : found.prefix_end]
        + "".join(text[p] for p in digits[:head])
        + hidden
        + "".join(text[p] for p in digits[len(digits) - tail :])
    )


def _replace(text: str, numbers: Iterable[Found]) -> str:
    parts: list[str] = []
    pos = 0
    for found in numbers:
        parts.append(text[pos : found.start])
        parts.append(mask_found(text, found))
        pos = found.end
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)


def redact(text: str, *, keep_phones: bool = False, hide_phones: Iterable[str] = ()) -> str:
    """``text`` as it may be stored: ID numbers, bank cards and (unless ``keep_phones``)
    phone numbers masked for good; nothing else changed.

    ``hide_phones``: numbers masked even with ``keep_phones`` (in any spelling) — a staff
    note may give an office's number to the resident, never the resident's own.
    """
    if not text:
        return text
    hidden = {f.value for p in hide_phones for f in find_numbers(p) if f.kind == "phone"}
    return _replace(
        text,
        (
            f
            for f in find_numbers(text)
            if f.kind == "id_number"
            or (f.kind == "bank_card" and f.certain)
            or (f.kind == "phone" and (not keep_phones or f.value in hidden))
        ),
    )


# --------------------------------------------------------------------------- logs, display

_CN_DIGITS: Final = "零〇一二三四五六七八九幺两"
_HAS_DIGIT_RE: Final = re.compile(rf"[\d{_CN_DIGITS}]")
# Runs of digits or Chinese numerals; whether one is an address number is decided from the
# characters around it (_mask_address_number), faster than a regex of lookbehinds.
_NUM_RUN_RE: Final = re.compile(rf"[\d{_CN_DIGITS}十百]+")
_UNIT_WORDS: Final = ("号楼", "号院", "号门", "栋", "幢", "单元", "室", "层", "号房", "户")
_HOUSE_NUMBER_AFTER: Final = frozenset("路街巷弄道里村苑园院厦区寓楼")
_ROOM_AFTER: Final = ("单元", "号楼", "栋", "幢", "座")
_FLOOR_NOT: Final = ("下", "上", "道", "梯", "顶")  # 3楼下 is "below building 3"
# Building-unit-room shorthand right after an estate or community word: 幸福小区3-2-502.
_SHORTHAND_RE: Final = re.compile(r"\d(?<=[区苑园村里寓厦院]\d)\d{0,2}-\d{1,2}-\d{2,4}(?!\d)")
_ADDRESS_WORD_RE: Final = re.compile("[号栋幢单室层楼弄户区苑园村里寓厦院]")
# A WeChat message id in a log line is a long number, not a card.
_MESSAGE_ID_WORDS: Final = ("msgid", "msg_id", "msg id", "message id")


def _is_message_id(text: str, found: Found) -> bool:
    before = text[max(0, found.start - 12) : found.start].lower()
    return found.kind == "bank_card" and any(word in before for word in _MESSAGE_ID_WORDS)


def _mask_address_number(match: re.Match[str]) -> str:
    """``*`` for the number of a building, unit, room, floor or house; else unchanged."""
    text, start, end = match.string, match.start(), match.end()
    run = match.group()
    if text.startswith(_UNIT_WORDS, end):
        return "*"
    if not run.isdigit():
        return run  # Chinese numerals only count before a unit word (三号楼, 二单元)
    prev = text[start - 1] if start else ""
    nxt = text[end : end + 1]
    after = text[end + 1 : end + 2]
    if nxt == "号" and prev in _HOUSE_NUMBER_AFTER and prev:
        return "*"  # 幸福路88号, 幸福小区3号
    if nxt == "弄" and prev in ("路", "街"):
        return "*"  # 长乐路123弄
    if 3 <= len(run) <= 4 and text.endswith(_ROOM_AFTER, 0, start) and nxt != "号":
        return "*"  # 2单元1502
    if len(run) <= 2 and nxt == "楼" and after not in _FLOOR_NOT and prev != "号":
        return "*"  # 3楼
    return run


def mask_text(text: str) -> str:
    """``text`` with phones, ID numbers, bank cards and house/room numbers masked, for a
    log line or a console page (see the module docstring). Never raises."""
    try:
        if not isinstance(text, str):
            text = str(text)
        if not _HAS_DIGIT_RE.search(text):
            return text
        text = _replace(text, (f for f in find_numbers(text) if not _is_message_id(text, f)))
        if _ADDRESS_WORD_RE.search(text):
            text = _NUM_RUN_RE.sub(_mask_address_number, text)
            text = _SHORTHAND_RE.sub("*-*-*", text)
        return text
    except Exception:
        return WITHHELD


# --------------------------------------------------------------------------- fields

# A number as staff may type it into a phone field: digits with spaces or hyphens.
_FIELD_NUMBER_RE: Final = re.compile(r"\d(?:[ \-－]?\d)*")


def _mask_field_number(match: re.Match[str]) -> str:
    digits = [c for c in match.group() if c.isdigit()]
    if len(digits) < 7:
        return match.group()
    return "".join(digits[:3]) + MASK + "".join(digits[-4:])


def mask_phone(phone: str | None) -> str:
    """A phone field as shown before a reveal: ``13812345678`` → ``138****5678``,
    ``01012345678-123`` → ``010****5678-123``; any other number of 7 or more digits in
    the field is masked the same way, words stay."""
    text = phone or ""
    parts: list[str] = []
    pos = 0
    for found in find_numbers(text):
        if found.kind == "phone":
            parts.append(_FIELD_NUMBER_RE.sub(_mask_field_number, text[pos : found.start]))
            parts.append(mask_found(text, found))
            pos = found.end
    parts.append(_FIELD_NUMBER_RE.sub(_mask_field_number, text[pos:]))
    return "".join(parts)


# One administrative or street name: a few non-digit characters ending in a marker. "小区"
# (a housing estate) ends in 区 but is part of the detailed address, so it does not count.
_PLACE_RE: Final = re.compile(
    r"[^\d\s,，。;；:：()（）#＃\-]{1,12}?"
    r"(?:省|自治区|市|(?<!小)区|县|旗|镇|乡|街道|大街|大道|路|街|巷|胡同)"
)
_FALLBACK_KEEP: Final = 4


def _place_prefix(address: str) -> int:
    """Length of the administrative/street names at the start of ``address``."""
    end = 0
    while True:
        match = _PLACE_RE.match(address, end)
        if match is None:
            return end
        end = match.end()


def mask_address(address: str | None) -> str:
    """The administrative and street part at the start kept — the run of names ending in
    省, 市, 区 (not 小区), 县, 旗, 镇, 乡, 街道, 大街, 大道, 路, 街, 巷, 胡同 — the rest
    (house number, estate, building, unit, room, landmarks) ``****``:
    ``北京市朝阳区幸福路88号幸福小区3号楼502`` → ``北京市朝阳区幸福路****``. An address not
    starting with such names keeps at most its first 4 characters (never a digit, at most
    half of it): ``幸福小区3号楼2单元502`` → ``幸福小区****``."""
    text = (address or "").strip()
    if not text:
        return ""
    keep = _place_prefix(text)
    if keep == 0:
        first_digit = next((i for i, c in enumerate(text) if c.isdigit()), len(text))
        keep = min(_FALLBACK_KEEP, len(text) // 2, first_digit)
    if keep >= len(text):
        return text  # nothing but district and street names: nothing personal to hide
    return text[:keep] + MASK


def mask_openid(openid: str) -> str:
    """First and last four characters only: enough to correlate log lines, not to identify.
    Short values become ``***``; never raises."""
    try:
        openid = str(openid)
        if len(openid) <= 8:
            return "***"
        return f"{openid[:4]}***{openid[-4:]}"
    except Exception:
        return "***"
