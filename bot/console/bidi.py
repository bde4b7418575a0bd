"""Bidirectional-text controls in resident text, made harmless before staff see it.

A message can carry the invisible controls that reorder how text is displayed (right-to-left
override U+202E, embeddings, isolates, marks): ``账号 [RLO]9123[PDF]`` then *shows* another
number than it holds, and a ticket or chat line can be made to read differently from what
was filed. Wherever the console shows text, each such control is replaced by a visible
``[U+202E]``: staff see that something was there, and the order on screen is the order of
the characters. Applied in one place, the Jinja environment's ``finalize`` (every ``{{ }}``
of every console page), plus the chat lines the inbox fetches as JSON.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

__all__ = ["BIDI_CONTROLS", "neutralise_bidi", "show_safely"]

#: LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI; LRM, RLM; the Arabic letter mark.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)
_BIDI_RE = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


def _visible(match: re.Match[str]) -> str:
    return f"[U+{ord(match.group()):04X}]"


def neutralise_bidi(text: str) -> str:
    """``text`` with every bidi control replaced by its visible code (``[U+202E]``)."""
    return _BIDI_RE.sub(_visible, text)


def show_safely(value: Any) -> Any:
    """Jinja ``finalize``: neutralise strings (markup stays markup); other values as given."""
    if isinstance(value, Markup):
        # Already markup; the replacement adds only "[U+XXXX]", no markup characters.
        return Markup(neutralise_bidi(str(value)))  # noqa: S704
    if isinstance(value, str):
        return neutralise_bidi(value)
    return value
