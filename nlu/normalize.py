"""Text normalisation for residents' messages.

Two entry points:

* :func:`normalize` — the canonical form fed to intent classification and keyword rules:
  full-width → half-width, traditional → simplified (OpenCC ``t2s``), Latin lower-cased,
  emoji / pictographs / WeChat ``[捂脸]`` codes replaced by a space, zero-width characters
  removed, runs of punctuation collapsed (``！！！`` → ``!``, ``。。。``/``……`` → ``。``)
  and whitespace collapsed.  It may change the length of the text.
* :func:`normalize_aligned` — only character-for-character changes (width folding, 1:1
  ``t2s``, lower-casing) plus deletion of invisible format characters, with an offset map
  back to the original.  Entity extraction runs on this form and reports spans in the
  ORIGINAL message, which is what Rasa-style consumers expect.

Note on punctuation: the full-width block U+FF01–U+FF5E is folded as a whole, so ``！``,
``？``, ``，``, ``：`` become ``!``, ``?``, ``,``, ``:``; ``。`` and ``、`` have no ASCII
counterpart and stay.  ``！！！`` therefore normalises to ``!``.

Both functions are pure, thread-safe and allocation-light: every table and regex is built
at import time except the OpenCC converter, which is built lazily on first use (it loads
dictionaries from disk) and then shared.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources
from typing import NamedTuple, Protocol

__all__ = ["AlignedText", "normalize", "normalize_aligned", "to_simplified"]


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


# --------------------------------------------------------------------------- tables


def _build_fold_table() -> dict[int, str]:
    """Character-for-character folding shared by both entry points (never changes length)."""
    table: dict[int, str] = {}
    # Every Unicode decimal digit (full-width, Arabic-Indic, Devanagari…) → ASCII, so the
    # entity regexes can rely on \d meaning [0-9] after normalisation.
    for cp in range(0x80, 0x20000):  # every Nd code point lies below U+20000
        ch = chr(cp)
        if unicodedata.category(ch) == "Nd":
            table[cp] = str(unicodedata.decimal(ch))
    # Full-width ASCII block (！ … ～) → ASCII.
    for cp in range(0xFF01, 0xFF5F):
        table[cp] = chr(cp - 0xFEE0)
    table.update(
        {
            0x3000: " ",  # ideographic space
            0xFF61: "。",  # halfwidth ideographic full stop
            0xFF62: "「",
            0xFF63: "」",
            0xFF64: "、",
            0xFFE0: "¢",
            0xFFE1: "£",
            0xFFE2: "¬",
            0xFFE3: "¯",
            0xFFE4: "¦",
            0xFFE5: "¥",
            0xFFE6: "₩",
            # Small form variants that IMEs sometimes emit.
            0xFE50: ",",
            0xFE51: "、",
            0xFE52: ".",
            0xFE54: ";",
            0xFE55: ":",
            0xFE56: "?",
            0xFE57: "!",
            0x203C: "!",  # ‼ is an emoji-presentation character, but it means "!"
            0x2049: "?",  # ⁉
        }
    )
    # Exotic spaces and C0/C1 controls → plain space (1:1 keeps the alignment).
    for cp in (*range(0x2000, 0x200B), 0x202F, 0x205F, 0x00A0):
        table[cp] = " "
    for cp in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)):
        table[cp] = " "
    # Lower-case Latin.  Only letters whose lower case is one code point are mapped, so
    # the table stays length-preserving (str.lower() would turn "İ" into two characters).
    for cp in (*range(0x41, 0x5B), *range(0xC0, 0xDF)):
        if cp != 0xD7:  # ×
            table[cp] = chr(cp + 0x20)
    for cp in range(0xFF21, 0xFF3B):  # Ａ–Ｚ straight to a–z
        table[cp] = chr(cp - 0xFF21 + 0x61)
    return table


# Invisible format characters: zero-width space/joiners, bidi controls, BOM, soft hyphen,
# Mongolian vowel separator, variation selectors, combining keycap, emoji tag characters.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x2069),
    (0x20E3, 0x20E3),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xE0020, 0xE007F),
)
_INVISIBLE: frozenset[str] = frozenset(
    chr(cp) for low, high in _INVISIBLE_RANGES for cp in range(low, high + 1)
)
_INVISIBLE_RE = re.compile(
    "["
    + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in _INVISIBLE_RANGES)
    + "]"
)


def _as_list(table: dict[int, str | None]) -> tuple[list[int | str | None], dict[int, str | None]]:
    """Split a translation table into a BMP list and a dict for the rest.

    ``str.translate`` with a dict pays for a failed lookup (a KeyError raised and cleared
    in C) on every character it does not map — every CJK character.  A list indexed by
    code point answers in one step and is twice as fast; the few code points above the
    BMP (emoji tags, mathematical digits) go through the dict only when present.
    """
    bmp: list[int | str | None] = list(range(0x10000))
    rest: dict[int, str | None] = {}
    for cp, value in table.items():
        if cp < 0x10000:
            bmp[cp] = value
        else:
            rest[cp] = value
    return bmp, rest


_FOLD_TABLE: dict[int, str | None] = dict(_build_fold_table())
_FOLD_BMP, _FOLD_ASTRAL = _as_list(_FOLD_TABLE)
_FULL_BMP, _FULL_ASTRAL = _as_list({**_FOLD_TABLE, **{ord(c): None for c in _INVISIBLE}})

# Emoji and pictographs.  Ranges rather than a list: new emoji land in these blocks.
_PICTO_CLASS = (
    "\U0001f000-\U0001faff"  # mahjong … symbols & pictographs ext-A (incl. skin tones)
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u2b00-\u2bff"  # misc symbols and arrows (⭐ ⭕ ⬆)
    "\u231a\u231b\u2328\u23cf\u23e9-\u23fa"  # ⌚ ⏰ ⏳ …
    "\u24c2\u3030\u303d\u3297\u3299"
)


def _load_wechat_emoji() -> list[str]:
    text = resources.files("nlu.resources").joinpath("wechat_emoji.txt").read_text("utf-8")
    names = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line)
    return names


# WeChat sends its built-in faces as bracketed names in the text: "[捂脸]", "[Facepalm]".
# Only the known names are removed so "[图片]"-like content in brackets is left alone.
_WECHAT_EMOJI_RE = re.compile(
    r"\[(?:"
    + "|".join(re.escape(n) for n in sorted(_load_wechat_emoji(), key=len, reverse=True))
    + r")\]",
    re.IGNORECASE,
)
# Every pattern below starts with a character class: Python's re then skips ahead in C to
# the next candidate character instead of attempting a match at every position.
_PICTO_RE = re.compile(f"[{_PICTO_CLASS}]+")
_EXCLAIM_QUESTION_RE = re.compile(r"[!?]{2,}")
_DOTS_RE = re.compile(r"[。…⋯.·]+")
_REPEAT_PUNCT_RE = re.compile(r"([,、;:~\-—_=*#/\\|+'\"`^])\1+")
_SPACE_RE = re.compile(r"\s+")
_UNUSUAL_SPACE = ("  ", "\t", "\n", "\r", "\x0b", "\x0c")


# --------------------------------------------------------------------------- OpenCC


@functools.cache
def _t2s() -> _Converter:
    """The OpenCC converter, built on first use (loading its dictionaries takes ~5 ms)."""
    import opencc

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


_CHAR_T2S_CACHE: dict[str, str] = {}


def _char_t2s(ch: str) -> str:
    """Traditional → simplified for one character, keeping it only when the result is one
    character (the aligned form must not change length)."""
    out = _CHAR_T2S_CACHE.get(ch)
    if out is None:
        converted = _t2s().convert(ch)
        out = converted if len(converted) == 1 else ch
        if len(_CHAR_T2S_CACHE) < 50_000:  # bound the cache; the CJK repertoire is finite
            _CHAR_T2S_CACHE[ch] = out
    return out


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese with OpenCC's phrase-aware ``t2s`` conversion."""
    if text.isascii():
        return text
    return _t2s().convert(text)


# --------------------------------------------------------------------------- public API


def _collapse_exclaim_question(match: re.Match[str]) -> str:
    # A mixed run such as "?!?!" is a question; keep the intent-bearing mark.
    return "?" if "?" in match.group() else "!"


def _collapse_dots(match: re.Match[str]) -> str:
    run = match.group()
    # A single "。", "." (3.5, a.b) or "·" (name separator) is not an ellipsis.
    return run if len(run) == 1 and run in "。.·" else "。"


def normalize(text: str) -> str:
    """Return the canonical form of ``text`` for classification and keyword matching.

    >>> normalize("  ＡＢＣ電話１３８！！！😀 [捂脸]  ")
    'abc电话138!'
    """
    s = text.translate(_FULL_BMP)
    if not s.isascii():
        if max(s) > "\uffff":  # emoji tags, astral digits: rare, so a second pass is fine
            s = s.translate(_FULL_ASTRAL)
        s = _t2s().convert(s)
        s = _PICTO_RE.sub(" ", s)
    if "[" in s:
        s = _WECHAT_EMOJI_RE.sub(" ", s)
    s = _DOTS_RE.sub(_collapse_dots, s)
    s = _EXCLAIM_QUESTION_RE.sub(_collapse_exclaim_question, s)
    s = _REPEAT_PUNCT_RE.sub(r"\1", s)
    if any(ws in s for ws in _UNUSUAL_SPACE):
        s = _SPACE_RE.sub(" ", s)
    return s.strip()


class AlignedText(NamedTuple):
    """Normalised text whose characters each come from one character of the original.

    ``offsets[i]`` is the index in the original text of ``text[i]``; ``offsets`` has one
    extra trailing element, ``len(original)``, so end positions map too.
    """

    text: str
    offsets: list[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map the half-open span ``[start, end)`` of ``text`` to the original text."""
        if end <= start:
            pos = self.offsets[start]
            return pos, pos
        return self.offsets[start], self.offsets[end - 1] + 1


def normalize_aligned(text: str) -> AlignedText:
    """Length-preserving normalisation with an offset map back to ``text``.

    Does width folding, lower-casing and character-level traditional → simplified
    conversion (only where OpenCC maps one character to one character), and drops
    invisible format characters (zero-width space, ZWJ, variation selectors …), which is
    the only change that makes ``offsets`` differ from the identity.  Emoji, punctuation
    runs and spacing are left as they are.
    """
    s = text.translate(_FOLD_BMP)
    if not s.isascii() and max(s) > "\uffff":
        s = s.translate(_FOLD_ASTRAL)  # no deletions in this table: length is kept
    if _INVISIBLE_RE.search(s) is None:
        offsets = list(range(len(s) + 1))
    else:
        offsets = [i for i, ch in enumerate(s) if ch not in _INVISIBLE]
        s = "".join(s[i] for i in offsets)
        offsets.append(len(text))
    if not s.isascii():
        converted = _t2s().convert(s)
        # OpenCC's t2s is phrase-based but almost always 1:1 in length; when it is not,
        # fall back to per-character conversion so positions stay aligned.
        if len(converted) == len(s):
            s = converted
        else:
            s = "".join(_char_t2s(ch) if ord(ch) >= 0x2E80 else ch for ch in s)
    return AlignedText(s, offsets)
