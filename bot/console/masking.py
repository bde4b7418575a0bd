"""How the console shows a resident's personal data before a staff member reveals it.

Ticket pages show phone numbers and addresses masked by default; the full values appear
only after an explicit, audited reveal (``ticket.reveal``). The rules:

* **phone** (:func:`mask_phone`): in every number of 7 or more digits only the first 3 and
  the last 4 digits are kept, the middle becomes ``****`` whatever its length (so the
  length does not leak) and separators are dropped: ``13812345678`` → ``138****5678``,
  ``010-62345678`` → ``010****5678``, ``+86 138…`` → ``+86 138****5678``. Shorter
  numbers (an extension) and other words stay.
* **address** (:func:`mask_address`): the administrative and street part at the start is
  kept — the run of names ending in 省, 市, 区 (not 小区), 县, 旗, 镇, 乡, 街道, 大街, 大道,
  路, 街, 巷, 胡同 — and the rest (house number, estate, building, unit, room, landmarks)
  becomes ``****``: ``北京市朝阳区幸福路88号幸福小区3号楼502`` → ``北京市朝阳区幸福路****``.
  An address that does not start with such names keeps at most its first 4 characters
  (never a digit, at most half of it): ``幸福小区3号楼2单元502`` → ``幸福小区****``.
* **free text** (description, chat, notes, rating reason; :func:`mask_text`): phone, ID-card
  and bank-card numbers and house/room numbers inside the text are masked with
  :func:`nlu.pii.mask_pii`, the rule of the logs.
* **openid**: first and last four characters (:func:`nlu.pii.mask_openid`).
"""

from __future__ import annotations

import re

from nlu.pii import mask_openid, mask_pii

__all__ = ["MASK", "mask_address", "mask_openid", "mask_phone", "mask_text"]

MASK = "****"

# A number as people write it: digits with spaces or hyphens between them.
_NUMBER_RE = re.compile(r"\d(?:[ \-－]?\d)*")

# One administrative or street name: a few non-digit characters ending in a marker. "小区"
# (a housing estate) ends in 区 but is part of the detailed address, so it does not count.
_PLACE_RE = re.compile(
    r"[^\d\s,，。;；:：()（）#＃\-]{1,12}?"
    r"(?:省|自治区|市|(?<!小)区|县|旗|镇|乡|街道|大街|大道|路|街|巷|胡同)"
)
_FALLBACK_KEEP = 4


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678`` (see the module docstring)."""

    def one(match: re.Match[str]) -> str:
        digits = [c for c in match.group() if c.isdigit()]
        if len(digits) < 7:
            return match.group()
        prefix = ""
        if len(digits) > 11 and digits[-11] == "1":  # a country code before a mobile
            prefix, digits = "".join(digits[:-11]) + " ", digits[-11:]
        return prefix + "".join(digits[:3]) + MASK + "".join(digits[-4:])

    return _NUMBER_RE.sub(one, phone or "")


def _place_prefix(address: str) -> int:
    """Length of the administrative/street names at the start of ``address``."""
    end = 0
    while True:
        match = _PLACE_RE.match(address, end)
        if match is None:
            return end
        end = match.end()


def mask_address(address: str | None) -> str:
    """Keep the district/street part, mask the rest (see the module docstring)."""
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


def mask_text(text: str | None) -> str:
    """Free text with the numbers that identify a person masked."""
    return mask_pii(text or "")
