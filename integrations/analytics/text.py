"""Text preparation for the clustering engine: what a ticket says, apart from where.

* :func:`normalized_location` — the location through ``nlu.normalize`` (width folding,
  traditional → simplified), ready for :func:`policies.place_key.place_key`;
* :func:`problem_text` — the description without its place names, numbers and filler
  words (你好, 麻烦尽快处理…): what is left says what the problem is;
* :func:`grams` — character 2- and 3-grams of that text, within runs of characters;
* :class:`TextModel` — gram weights (IDF times how specific a gram is to one category)
  and unit vectors over the grams (binary term frequency: descriptions are short), as
  plain dicts, which is faster than scipy for one short text at a time.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Final

from nlu.normalize import normalize
from policies.place_key import place_names, strip_places

__all__ = [
    "TextModel",
    "Vector",
    "cosine",
    "grams",
    "normalized_location",
    "problem_text",
    "problem_text_normalized",
]

Vector = dict[str, float]

# Words every complaint may carry whatever the problem: politeness, urgency, durations,
# pronouns and particles. Removing them keeps two different problems from looking alike
# because both residents wrote "麻烦尽快处理一下，谢谢".
_FILLER_RE: Final = re.compile(
    "你好|您好|麻烦你们|麻烦|请问|请|尽快|赶紧|赶快|快点|早日|及时|处理一下|处理|解决一下|"
    "解决|一下|反映|反应|投诉|举报|谢谢|感谢|希望|有关部门|相关部门|领导|管一管|管管|帮忙|"
    "帮帮|问题|情况|现在|目前|已经|一直|还是|好几天|好多天|好久|几天|多天|天了|一个多月|"
    "个多月|个月|一周|星期|礼拜|周了|今天|昨天|前天|最近|这几天|这两天|我们|我家|我|你们|"
    "这里|那里|这边|那边|这个|那个|那儿|这儿|都|也|很|太|非常|特别|真的|实在|严重|有人|"
    "了|的|吗|呢|啊|吧|呀|哦|嘛|啦|看看|能不能|可不可以|是否|可以|怎么|为什么"
)
_KEEP_RE: Final = re.compile(r"[\u4e00-\u9fffa-z]+")
_SHRINK: Final = 5.0  # tickets after which a gram's spread over categories counts half


def normalized_location(location: str) -> str:
    """The location in the canonical form place keys are read from."""
    return normalize(location or "")


def problem_text(description: str, location: str = "", names: Iterable[str] | None = None) -> str:
    """What the description says about the problem (runs separated by spaces).

    ``names``: the place names of the location (``PlaceKey.names``), when already parsed.
    """
    return problem_text_normalized(normalize(description or ""), normalize(location or ""), names)


def problem_text_normalized(
    description: str, location: str, names: Iterable[str] | None = None
) -> str:
    """:func:`problem_text` of an already normalised description and location."""
    text = description
    loc = location.strip()
    if len(loc) >= 2:
        text = text.replace(loc, " ")
    text = strip_places(text, place_names(loc) if names is None else names)
    text = _FILLER_RE.sub(" ", text)
    return " ".join(_KEEP_RE.findall(text))


def grams(text: str) -> frozenset[str]:
    """Characters and character 2- and 3-grams within each run of ``text``.

    Single characters carry what two wordings of one problem often share and nothing
    else does (异味 / 气味 / 味道 share only 味); the weighting of :class:`TextModel`
    keeps the common ones (有, 在) from counting."""
    out: set[str] = set()
    for run in text.split():
        n = len(run)
        for i in range(n):
            out.add(run[i])
            if i + 2 <= n:
                out.add(run[i : i + 2])
            if i + 3 <= n:
                out.add(run[i : i + 3])
    return frozenset(out)


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Dot product of two vectors (unit vectors: their cosine)."""
    if len(a) > len(b):
        a, b = b, a
    get = b.get
    return sum(w * get(g, 0.0) for g, w in a.items())


class TextModel:
    """Weights of grams, and unit weighted vectors.

    ``fit`` learns from a corpus of (grams, category) pairs: each gram weighs

        idf(g) × (floor + (1 − floor) × specificity(g))

    where idf is smoothed like scikit-learn's, ln((1 + N) / (1 + df)) + 1, and
    specificity is 1 − the normalised entropy of the gram over categories (each category's
    counts divided by its size first), shrunk towards 1 for grams seen in few tickets
    (by df / (df + 5)): a spread over two tickets is chance, over two hundred it is not.
    Words every kind of complaint uses (老人小孩, 影响出行, 危险) spread over all
    categories and weigh little; the words of one kind of problem (忽明忽暗, 井盖) weigh
    fully — the idea of class-based TF-IDF. Until ``fit`` every gram weighs the same; a
    gram never seen weighs as much as the rarest one.
    """

    __slots__ = ("_docs", "_floor", "_unseen", "_weight")

    def __init__(self, floor: float = 0.1) -> None:
        if not 0.0 <= floor <= 1.0:
            raise ValueError("floor must be between 0 and 1")
        self._docs = 0
        self._floor = floor
        self._weight: dict[str, float] = {}
        self._unseen = 1.0

    @property
    def documents(self) -> int:
        return self._docs

    def fit(self, corpus: Iterable[tuple[frozenset[str], str]]) -> None:
        df: Counter[str] = Counter()
        by_class: dict[str, Counter[str]] = {}
        sizes: Counter[str] = Counter()
        docs = 0
        for doc, category in corpus:
            df.update(doc)
            by_class.setdefault(category, Counter()).update(doc)
            sizes[category] += 1
            docs += 1
        self._docs = docs
        classes = len(by_class)
        max_entropy = math.log(classes) if classes > 1 else 1.0
        floor = self._floor
        weights: dict[str, float] = {}
        for gram, n in df.items():
            rates = [counts[gram] / sizes[c] for c, counts in by_class.items() if gram in counts]
            total = sum(rates)
            entropy = (
                -sum(r / total * math.log(r / total) for r in rates) if len(rates) > 1 else 0.0
            )
            specificity = 1.0 - entropy / max_entropy if classes > 1 else 1.0
            # A spread seen in a handful of tickets says little: trust it as df grows.
            specificity = 1.0 - (1.0 - specificity) * n / (n + _SHRINK)
            idf = math.log((1 + docs) / (1 + n)) + 1.0
            weights[gram] = idf * (floor + (1.0 - floor) * specificity)
        self._weight = weights
        self._unseen = math.log(1 + docs) + 1.0 if docs else 1.0

    def vector(self, doc: frozenset[str]) -> Vector:
        """The unit weighted vector of a gram set (empty for an empty set)."""
        if not doc:
            return {}
        weight = self._weight
        unseen = self._unseen
        vec = {g: weight.get(g, unseen) for g in doc}
        norm = math.sqrt(sum(w * w for w in vec.values()))
        if norm == 0.0:
            return {}
        return {g: w / norm for g, w in vec.items()}

    def weight(self, gram: str) -> float:
        return self._weight.get(gram, self._unseen)
