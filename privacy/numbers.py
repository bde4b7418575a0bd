"""Finding the numbers that identify a person: phone, ID-card and bank-card numbers.

:func:`find_numbers` reads text as people type it — full-width digits, spaces, hyphens of
every width (``- ‐ ‑ ‒ – — ― − ﹣ －``), dots, brackets, zero-width characters pasted
from web pages, mixed — and returns each number found with its span, its kind and its
canonical value (digits only, ``X`` for an ID's check character):

* **ID-card numbers** (GB 11643): 18 characters with a valid checksum, province and birth
  date are IDs for sure (``certain``); an 18-character run whose checksum is wrong but whose
  birth date is plausible is still reported, as a *likely* ID (a mistyped ID is still
  someone's ID); 15-digit pre-1999 IDs with a valid province and date;
* **phone numbers**: mobiles (``1[3-9]`` + 9 digits) in any grouping, with ``+86``/``86``/
  ``0086`` before them; landlines with their area code (``010``, ``02x``, ``0xxx``);
  400/800 service numbers; mobiles and IDs spoken as Chinese digits (voice input:
  ``幺三八一二三四五六七八``);
* **bank cards**: 16–19 digits passing the Luhn check (``certain``); a run of 16–19 digits
  that fails it, typed in one piece or in groups of four, is a *likely* card.

How separators are read: digits joined by at most three separator characters form one
run; within a run, consecutive groups of digits are combined, the longest combination that
is a number of one of the kinds above winning, so ``13812345678 13987654321`` is two
mobiles and ``138 1234 5678`` one. A run of more than 19 digits typed without separators
is searched for a valid ID inside it (an ID glued to a phone number).

Pure and fast (it runs on every log line): one ``str.translate`` and one regex scan over
the text, Python work only for runs of 7 digits or more.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "Found",
    "Kind",
    "find_numbers",
    "is_valid_id_number",
    "luhn_valid",
    "mask_id_number",
]

Kind = Literal["phone", "id_number", "bank_card"]


@dataclass(frozen=True, slots=True)
class Found:
    """One number in a text.

    ``start``/``end`` index the text; ``digits`` are the positions of the number's own
    digits (and ``X``) in it, without a country code, which masking keeps or hides;
    ``prefix_end`` is where a country code written before the number ends (``start`` when
    there is none); ``groups`` are the lengths of the digit groups as typed.
    """

    kind: Kind
    start: int
    end: int
    value: str
    certain: bool
    digits: tuple[int, ...]
    prefix_end: int
    groups: tuple[int, ...]


# --------------------------------------------------------------------------- characters

#: spaces, hyphens and dashes of every width, dots, zero-width characters
SEPARATORS: Final = (
    " \u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f"
    "\u3000"
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d"
    ".\uff0e\u00b7\u2027\u30fb\uff65"
    "\u200b\u200c\u200d\u2060\ufeff"
)
_CN_DIGITS: Final = "零〇一二三四五六七八九幺两"
_CN_VALUES: Final = dict(zip(_CN_DIGITS, "0012345678912", strict=True))


def _shadow_table() -> dict[int, str]:
    """Folding into a same-length "shadow" of the text: every decimal digit → ASCII, the ID
    check character → ``X``, separators → ``-``, brackets → ``(``/``)``, plus signs → ``+``.
    Everything else maps to itself, so positions in the shadow are positions in the text."""
    table: dict[int, str] = {}
    for cp in range(0x80, 0x20000):
        ch = chr(cp)
        if unicodedata.category(ch) == "Nd":
            table[cp] = str(unicodedata.decimal(ch))
    for ch in SEPARATORS:
        table[ord(ch)] = "-"
    for ch in "xＸｘ":
        table[ord(ch)] = "X"
    for ch in "(（":
        table[ord(ch)] = "("
    for ch in ")）":
        table[ord(ch)] = ")"
    table[ord("＋")] = "+"
    return table


_SHADOW: Final = _shadow_table()
# Any character that can start a number: a digit of any script or a Chinese digit.
_ANY_DIGIT_RE: Final = re.compile(rf"[\d{_CN_DIGITS}]")
# Runs of digit groups joined by up to three separators; an ID's check character at the end.
# Read on the text itself, with the shadow's classes spelled out (Python's \d is exactly
# the Unicode digits the shadow folds), so the same positions as in the shadow: a text
# without a run of 7 characters needs no shadow, which is most of what a scan costs (a
# 200-character FAQ answer holding 12345: 18 → 4 µs).
_TEXT_RUN_RE: Final = re.compile(
    rf"\d(?<!\d\d)(?:[{re.escape(SEPARATORS)}()（）]{{0,3}}\d)*[XxＸｘ]?"
)
_GROUP_RE: Final = re.compile(r"[0-9]+")
# Numbers spoken as Chinese digits, one separator at most between two of them.
_CN_RUN_RE: Final = re.compile(
    f"[{_CN_DIGITS}](?<![{_CN_DIGITS}十百千万亿\\d].)"
    f"(?:[ ,，、\\-－]?[{_CN_DIGITS}])+(?:[xX叉])?"
    f"(?![ ,，、\\-－]?[{_CN_DIGITS}十百千万亿\\d])"
)

# --------------------------------------------------------------------------- ID numbers

_ID_PROVINCES: Final = frozenset(
    f"{code}"
    for code in (
        *(11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45),
        *(46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91),
    )
)
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"
# Where a valid ID may hide in a long run of digits (overlapping, hence the lookahead).
_ID_INSIDE_RE: Final = re.compile(
    r"(?=([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]))"
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


def _likely_id(n: str) -> bool:
    """An 18-character ID with a wrong checksum: a plausible birth date where it belongs."""
    return len(n) == 18 and n[0] != "0" and n[:17].isdigit() and _valid_birth_date(n[6:14])


def mask_id_number(number: str) -> str:
    """An ID number with its first 6 and last 4 characters kept (18 → 6+8*+4, 15 → 6+5*+4).

    Works on the digits and the check character only; separators are dropped.
    """
    chars = "".join(c for c in number.translate(_SHADOW) if c.isdigit() or c == "X")
    if len(chars) < 11:
        return "*" * len(chars)
    return chars[:6] + "*" * (len(chars) - 10) + chars[-4:]


# --------------------------------------------------------------------------- phones, cards

_MOBILE_RE: Final = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")
_LANDLINE_RE: Final = re.compile(r"0(?:10|2\d|[3-9]\d{2})[1-9]\d{6,7}")
_SERVICE_RE: Final = re.compile(r"[48]00\d{7}")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of bank-card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class _Reading:
    kind: Kind
    certain: bool
    prefix: int  # digits of a country code before the number proper


def _read(digits: str, groups: tuple[int, ...]) -> _Reading | None:
    """What a run of digits (``X`` last for an ID) is, if it is one of ours."""
    n = len(digits)
    if n == 18:
        if is_valid_id_number(digits):
            return _Reading("id_number", True, 0)
        if _likely_id(digits):
            return _Reading("id_number", False, 0)
    if "X" in digits:
        return None
    if n == 15 and is_valid_id_number(digits):
        return _Reading("id_number", True, 0)
    if 11 <= n <= 15:
        mobile = _MOBILE_RE.fullmatch(digits)
        if mobile:
            return _Reading("phone", True, n - 11)
    if (n in (11, 12) and _LANDLINE_RE.fullmatch(digits)) or (
        n == 10 and _SERVICE_RE.fullmatch(digits)
    ):
        return _Reading("phone", True, 0)
    if 16 <= n <= 19:
        if luhn_valid(digits):
            return _Reading("bank_card", True, 0)
        if len(groups) == 1 or all(g == 4 for g in groups[:-1]):
            return _Reading("bank_card", False, 0)
    return None


# --------------------------------------------------------------------------- scanning


def find_numbers(text: str) -> list[Found]:
    """Every phone, ID and bank-card number in ``text``, in order, never overlapping."""
    if not _ANY_DIGIT_RE.search(text):
        return []
    found: list[Found] = []
    # The shadow (a copy of the whole text) only matters where a run of digits long
    # enough to be a number is: most messages have a Chinese numeral (一下, 一个) and no
    # digit at all, and a FAQ answer only short numbers (12345, 60 周岁).
    runs = [run.span() for run in _TEXT_RUN_RE.finditer(text) if run.end() - run.start() >= 7]
    if runs:
        shadow = text.translate(_SHADOW)
        for start, end in runs:
            found.extend(_read_run(text, shadow, start, end))
    if _CN_HINT_RE.search(text):
        found.extend(_read_spoken(text))
        found.sort(key=lambda f: f.start)
    return found


# Chinese-digit numbers need eleven of them: a cheap test before the full scan.
_CN_HINT_RE: Final = re.compile(f"[{_CN_DIGITS}][^{_CN_DIGITS}]?[{_CN_DIGITS}]{{4}}")


def _read_run(text: str, shadow: str, start: int, end: int) -> Iterator[Found]:
    groups = [m.span() for m in _GROUP_RE.finditer(shadow, start, end)]
    check_char = end - 1 if shadow[end - 1] == "X" else None
    i = 0
    while i < len(groups):
        best: tuple[int, _Reading] | None = None
        count = 0
        candidates: list[int] = []
        for j in range(i, len(groups)):
            count += groups[j][1] - groups[j][0]
            if count > 19:
                break
            candidates.append(j)
        for j in reversed(candidates):
            digits = "".join(shadow[a:b] for a, b in groups[i : j + 1])
            lengths = tuple(b - a for a, b in groups[i : j + 1])
            reading = None
            if j == len(groups) - 1 and check_char is not None:
                reading = _read(digits + "X", lengths)
            reading = reading or _read(digits, lengths)
            if reading is not None:
                best = (j, reading)
                break
        if best is None:
            a, b = groups[i]
            if b - a > 19:
                yield from _inside_long_group(text, shadow, a, b)
            i += 1
            continue
        j, reading = best
        with_check = (
            reading.kind == "id_number"
            and j == len(groups) - 1
            and check_char is not None
            and sum(b - a for a, b in groups[i : j + 1]) == 17
        )
        yield _found(text, shadow, groups[i : j + 1], reading, check_char if with_check else None)
        i = j + 1


def _found(
    text: str,
    shadow: str,
    groups: list[tuple[int, int]],
    reading: _Reading,
    check_char: int | None,
) -> Found:
    positions = [p for a, b in groups for p in range(a, b)]
    if check_char is not None:
        positions.append(check_char)
    own = positions[reading.prefix :]
    start, end = positions[0], positions[-1] + 1
    # A plus sign or an opening bracket typed right before the number belongs to it.
    while start > 0 and shadow[start - 1] in "+(" and (
        shadow[start - 1] == "+" or ")" in shadow[start:end]
    ):
        start -= 1
    value = "".join(shadow[p] for p in own)
    return Found(
        kind=reading.kind,
        start=start,
        end=end,
        value=value,
        certain=reading.certain,
        digits=tuple(own),
        prefix_end=own[0] if reading.prefix else start,
        groups=tuple(b - a for a, b in groups),
    )


def _inside_long_group(text: str, shadow: str, a: int, b: int) -> Iterator[Found]:
    """Valid IDs inside one long run of digits, and mobiles right around them."""
    pos = a
    for m in _ID_INSIDE_RE.finditer(shadow, a, b):
        s = m.start(1)
        if s < pos or not is_valid_id_number(m.group(1)):
            continue
        e = s + 18
        before = shadow[pos:s]
        if len(before) == 11 and _MOBILE_RE.fullmatch(before):
            yield _found(text, shadow, [(pos, s)], _Reading("phone", True, 0), None)
        yield _found(text, shadow, [(s, e)], _Reading("id_number", True, 0), None)
        pos = e
    if pos > a and b - pos == 11 and _MOBILE_RE.fullmatch(shadow[pos:b]):
        yield _found(text, shadow, [(pos, b)], _Reading("phone", True, 0), None)


def _read_spoken(text: str) -> Iterator[Found]:
    """Mobiles and IDs in Chinese digits (voice input)."""
    for m in _CN_RUN_RE.finditer(text):
        positions = [m.start() + i for i, ch in enumerate(m.group()) if ch in _CN_VALUES]
        digits = "".join(_CN_VALUES[text[p]] for p in positions)
        last = m.end() - 1
        if text[last] in "xX叉":
            digits += "X"
            positions.append(last)
        kind: Kind
        if len(digits) == 11 and _MOBILE_RE.fullmatch(digits):
            kind, certain = "phone", True
        elif len(digits) == 18 and (is_valid_id_number(digits) or _likely_id(digits)):
            kind, certain = "id_number", is_valid_id_number(digits)
        else:
            continue
        yield Found(
            kind=kind,
            start=positions[0],
            end=positions[-1] + 1,
            value=digits,
            certain=certain,
            digits=tuple(positions),
            prefix_end=positions[0],
            groups=(len(digits),),
        )
