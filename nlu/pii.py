"""Masking of personal data in log lines.

:func:`mask_pii` runs on every log record (``bot.logs.PIIMaskingFilter``) and on every
message the logging middleware prints, so it is built for speed (a handful of precompiled
regexes, a fast path for lines without digits) and never raises.  It works on the raw text
(full-width digits included) and keeps everything that is not personal data as it was.

What is masked:

* mobile, landline and 400/800 numbers — first 3 and last 4 digits kept, separators kept:
  ``138****5678``, ``138-****-5678``, ``010-****5678``;
* mobiles spoken as Chinese digits (voice input): ``幺三八****五六七八``;
* ID-card numbers: first 6 and last 4 kept (``110105********1234``), whether or not the
  checksum is right — a mistyped ID is still personal data;
* bank-card-like runs of 16–19 digits (also in groups of four): first 4 and last 4 kept;
  a run right after ``msgid`` is a WeChat message id and left alone;
* house, building, unit and room numbers of addresses: ``幸福小区*号楼*单元*室``,
  ``幸福路*号`` — the estate, road and district names are kept so the log stays useful.

:func:`mask_openid` keeps the first and last four characters of a WeChat openid.
"""

from __future__ import annotations

import re

__all__ = ["mask_id_number", "mask_id_numbers", "mask_openid", "mask_pii"]

# Hyphen-like separators people put inside numbers.
_SEP = r"[ \-－]"
_CN_DIGITS = "零〇一二三四五六七八九幺两"

# A log line is scanned once for clusters of at least 7 digits (separators, brackets and a
# trailing X allowed); only those few, short clusters go through the number patterns.
# It starts with \d, so re skips in C over everything else — timestamps' short groups and
# prose cost almost nothing.  In str patterns \d is any Unicode decimal digit, full-width
# ones included.
_CLUSTER_RE = re.compile(
    # Starts at the first digit of a run, and never at a log timestamp (2026-11-23 19:…).
    r"\d(?<!\d\d)(?!\d{3}-\d\d-\d\d[ T]\d\d:)(?:[ \-－()（）+＋]{0,2}\d){6,}[XxＸｘ]?"
)
_ID_RE = re.compile(r"(?<!\d)\d{6}(?: ?\d{8} ?\d{3}|\d{11})[\dXxＸｘ](?!\d)")
_ID15_RE = re.compile(r"(?<!\d)\d{8}(?:[0０][1-9１-９]|[1１][0-2０-２])\d{5}(?!\d)")
_CARD_RE = re.compile(
    rf"(?<!\d)(?:\d{{16,19}}|\d{{4}}(?:{_SEP}\d{{4}}){{3}}(?:{_SEP}\d{{1,4}})?)(?!\d)"
)
_MOBILE_RE = re.compile(
    rf"(?<!\d)(?P<prefix>(?:00)?[8８][6６]{_SEP}?)?"
    rf"(?P<number>[1１][3-9３-９]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}})(?!\d)"
)
_LANDLINE_RE = re.compile(rf"(?<!\d)[0０]\d{{2,3}}(?:[)）] ?|{_SEP})?\d{{3,4}}{_SEP}?\d{{4}}(?!\d)")
_SERVICE_RE = re.compile(rf"(?<!\d)[48４８][0０]{{2}}{_SEP}?\d{{3,4}}{_SEP}?\d{{3,4}}(?!\d)")
# Voice input writes mobiles in Chinese digits; the lookbehind sits after the first
# character so the pattern starts with a class (fast scanning).
_CN_MOBILE_RE = re.compile(
    f"[幺一](?<![{_CN_DIGITS}].)[三四五六七八九](?:[ ,，、]?[{_CN_DIGITS}]){{9}}(?![{_CN_DIGITS}])"
)
# Runs of digits or Chinese numerals; whether one is an address number is decided from the
# characters around it (_mask_address_number), which is faster than a regex of lookbehinds.
_NUM_RUN_RE = re.compile(rf"[\d{_CN_DIGITS}十百]+")
_UNIT_WORDS = ("号楼", "号院", "号门", "栋", "幢", "单元", "室", "层", "号房", "户")
_HOUSE_NUMBER_AFTER = frozenset("路街巷弄道里村苑园院厦区寓楼")
_ROOM_AFTER = ("单元", "号楼", "栋", "幢", "座")
# Building-unit-room shorthand right after an estate or community word: 幸福小区3-2-502.
_SHORTHAND_RE = re.compile(r"\d(?<=[区苑园村里寓厦院]\d)\d{0,2}-\d{1,2}-\d{2,4}(?!\d)")
# Cheap pre-checks, each a single character class.
_HAS_DIGIT_RE = re.compile(rf"[\d{_CN_DIGITS}]")
_ADDRESS_WORD_RE = re.compile("[号栋幢单室层楼弄户区苑园村里寓厦院]")


def mask_id_number(number: str) -> str:
    """Mask an ID-card number: first 6 and last 4 characters kept (18 → 6+8*+4, 15 → 6+5*+4).

    Works on the digits and check character only; separators are dropped.
    """
    chars = [c for c in number if c.isdigit() or c in "Xx"]
    digits = "".join(chars).upper()
    if len(digits) < 11:
        return "*" * len(digits)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def _keep_ends(text: str, head: int, tail: int) -> str:
    """Replace every digit except the first ``head`` and last ``tail`` by ``*``; other
    characters (separators, ``+86``) stay so the masked number keeps its shape."""
    positions = [i for i, c in enumerate(text) if c.isdigit() or c in "Xx"]
    hide = positions[head : len(positions) - tail] if len(positions) > head + tail else positions
    chars = list(text)
    for i in hide:
        chars[i] = "*"
    return "".join(chars)


def _mask_phone(match: re.Match[str]) -> str:
    # An 86/0086 prefix stays visible; the 3 kept leading digits are the mobile's own.
    return (match.group("prefix") or "") + _keep_ends(match.group("number"), 3, 4)


def _mask_card(match: re.Match[str]) -> str:
    text = match.group()
    if len([c for c in text if c.isdigit()]) == 18:
        return mask_id_number(text) if text.isdigit() else _keep_ends(text, 6, 4)
    return _keep_ends(text, 4, 4)


def _keep_3_4(match: re.Match[str]) -> str:
    return _keep_ends(match.group(), 3, 4)


def _mask_id(match: re.Match[str]) -> str:
    return mask_id_number(match.group())


def _mask_cluster(match: re.Match[str]) -> str:
    text = match.group()
    before = match.string[max(0, match.start() - 10) : match.start()].lower()
    if "msgid" in before or "msg_id" in before or "msg id" in before:
        return text  # a WeChat message id, not a card or a phone
    text = _ID_RE.sub(_mask_id, text)
    text = _ID15_RE.sub(_mask_id, text)
    text = _CARD_RE.sub(_mask_card, text)
    text = _MOBILE_RE.sub(_mask_phone, text)
    text = _LANDLINE_RE.sub(_keep_3_4, text)
    return _SERVICE_RE.sub(_keep_3_4, text)


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
    if (
        len(run) <= 2
        and nxt == "楼"
        and after not in ("下", "上", "道", "梯", "顶")
        and prev != "号"
    ):
        return "*"  # 3楼
    return run


def _mask_cn_mobile(match: re.Match[str]) -> str:
    text = match.group()
    idx = [i for i, c in enumerate(text) if c in _CN_DIGITS]
    chars = list(text)
    for i in idx[3:-4]:
        chars[i] = "*"
    return "".join(chars)


def mask_pii(text: str) -> str:
    """Return ``text`` with phones, ID numbers, bank cards and address numbers masked.

    Never raises: if anything goes wrong the whole line is replaced by a placeholder,
    because logging a line unmasked would be worse than losing it.
    """
    try:
        if not isinstance(text, str):
            text = str(text)
        if not _HAS_DIGIT_RE.search(text):
            return text
        text = _CLUSTER_RE.sub(_mask_cluster, text)
        text = _CN_MOBILE_RE.sub(_mask_cn_mobile, text)
        if _ADDRESS_WORD_RE.search(text):
            text = _NUM_RUN_RE.sub(_mask_address_number, text)
            text = _SHORTHAND_RE.sub("*-*-*", text)
        return text
    except Exception:
        return "<log line withheld: personal-data masking failed>"


def mask_id_numbers(text: str) -> str:
    """``text`` with ID-card numbers masked and nothing else changed: for what is stored
    (chat transcripts), where staff still need phones and addresses but a full ID number
    must never be kept."""
    text = _ID_RE.sub(lambda m: mask_id_number(m.group(0)), text)
    return _ID15_RE.sub(lambda m: mask_id_number(m.group(0)), text)


def mask_openid(openid: str) -> str:
    """First and last four characters only: enough to correlate log lines, not to identify.

    ``integrations.wechat`` re-exports this one; short values become ``***``.
    """
    try:
        openid = str(openid)
        if len(openid) <= 8:
            return "***"
        return f"{openid[:4]}***{openid[-4:]}"
    except Exception:
        return "***"
