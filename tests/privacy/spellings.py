"""The ways residents write one ID number and one phone number (issue 13), and a scan
that finds either whole in any text, whatever its separators, widths or digits."""

from __future__ import annotations

import re

# Fictitious people; ID_18X has a valid GB 11643 checksum, MISTYPED does not.
ID_18 = "110105199001011232"
ID_18X = "11010519900101103X"
ID_15 = "130503670401001"
MISTYPED = "110105199001011234"

ID_SPELLINGS = {
    "whole": ID_18X,
    "space": "110105 19900101 103X",
    "ascii hyphen": "110105-19900101-103X",
    "full-width hyphen": "110105－19900101－103X",
    "en dash": "110105–19900101–103X",
    "em dash": "110105—19900101—103X",
    "hyphen U+2010": "110105‐19900101‐103X",
    "non-breaking hyphen": "110105‑19900101‑103X",
    "dots": "110105.19900101.103X",
    "mixed": "110105 1990-0101.103x",
    "full-width digits": "１１０１０５１９９００１０１１０３Ｘ",
    "mistyped checksum": MISTYPED,
    "mistyped, dashed": "110105–19900101–1234",
}

# Not in the training data (which the database is seeded with).
PHONE = "15867392041"
PHONE_SPELLINGS = {
    "plain": PHONE,
    "spaced": "158 6739 2041",
    "dashed": "158-6739-2041",
    "+86": "+86 158 6739 2041",
    "Chinese digits": "幺五八六七三九二零四幺",
}
MASKED_PHONE = "158****2041"

_CN = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
_JOINERS = re.compile(r"[\s\-‐‑‒–—―−﹣－.．·・\u200b]+")


def canonical(text: str) -> str:
    """``text`` with every digit ASCII (Chinese digits too) and separators removed, so that
    a number shows up as one run of digits however it was written."""
    folded = "".join(
        str(int(ch)) if ch.isdecimal() else ch for ch in text.translate(_CN)
    ).upper()
    return _JOINERS.sub("", folded.replace("Ｘ", "X"))


def holds(text: str, number: str) -> bool:
    """Whether ``text`` holds ``number`` whole in any spelling."""
    return canonical(number) in canonical(text)
