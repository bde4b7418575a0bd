"""FAQ retrieval: find the knowledge-base topic a question is about, with runner-ups.

The index holds, per topic, its title, its question variants, its keywords and (optionally)
the intent classifier's training examples for that topic id. A message is scored on its
normalised, compacted text by

* topic similarity — cosine between the message's character 1–3-gram TF-IDF vector and
  the topic's whole document (all its variants and keywords together): robust to word
  order, extra words and paraphrase, since every phrasing of the topic contributes;
* nearest variant — the best single variant, by a blend of char n-gram cosine and
  rapidfuzz ``ratio`` (typos, near-verbatim phrasings);
* a small bonus for each of the topic's keywords found in the message.

Measured on the faq training examples (KB questions indexed, examples queried), the topic
document is what carries accuracy (top-1 0.93 vs 0.87 for the nearest variant alone); the
nearest variant lifts near-verbatim questions clearly above paraphrases. Scores are not
probabilities: on the shipped KB a verbatim KB question scores ~0.5–0.8 (median 0.63), the
faq training examples ~0.2–0.65 (median 0.42), out-of-scope messages at most ~0.25.

:meth:`FAQRetriever.search` returns the topics best first, which is what a
"您是不是想问 1/2/3" disambiguation needs.

Admins edit topics at run time, so a retriever is built from topic objects (or dicts) passed
in; :meth:`FAQRetriever.with_topic` / :meth:`without_topic` return a new retriever, and the
caller swaps its reference — an index is never mutated while another thread reads it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import yaml
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from nlu.features import Prepared, TfidfBlock, char_ngrams, compact
from nlu.normalize import normalize

__all__ = [
    "DEFAULT_KB_PATH",
    "FAQCandidate",
    "FAQMatch",
    "FAQRetriever",
    "FAQTopic",
    "load_knowledge_base",
]

#: The curated knowledge base shipped with the project.
DEFAULT_KB_PATH = Path(__file__).resolve().parent / "data" / "faq" / "knowledge_base.yml"


@dataclass(frozen=True, slots=True)
class FAQTopic:
    """One knowledge-base topic (``id`` is an intent id such as ``faq.medical.offsite``)."""

    id: str
    title: str
    answer: str = ""
    category: str = ""
    questions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FAQTopic:
        """Build from a knowledge-base mapping (unknown keys are ignored)."""
        if not isinstance(raw.get("id"), str) or not raw["id"].strip():
            raise ValueError(f"FAQ topic without id: {raw!r}")
        return cls(
            id=raw["id"].strip(),
            title=str(raw.get("title") or ""),
            answer=str(raw.get("answer") or ""),
            category=str(raw.get("category") or ""),
            questions=tuple(str(q) for q in raw.get("questions") or ()),
            keywords=tuple(str(k) for k in raw.get("keywords") or ()),
        )

    def as_dict(self) -> dict[str, Any]:
        """The knowledge-base mapping form."""
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "answer": self.answer,
            "questions": list(self.questions),
            "keywords": list(self.keywords),
        }


@dataclass(frozen=True, slots=True)
class FAQCandidate:
    """A topic and its retrieval score in [0, 1+] (higher = closer)."""

    topic: str
    title: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        """``{"topic", "title", "score"}``."""
        return {"topic": self.topic, "title": self.title, "score": round(self.score, 4)}


@dataclass(frozen=True, slots=True)
class FAQMatch:
    """Best topic plus runner-ups, as put in the parse result's ``faq`` key."""

    topic: str
    title: str
    score: float
    alternatives: list[FAQCandidate] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """``{"topic", "title", "score", "alternatives": [...]}``."""
        return {
            "topic": self.topic,
            "title": self.title,
            "score": round(self.score, 4),
            "alternatives": [a.as_dict() for a in self.alternatives],
        }


def _index(docs: Sequence[Sequence[str]]) -> tuple[TfidfBlock, sp.csr_matrix]:
    """TF-IDF over ``docs`` and the term-major matrix (terms × docs) of their unit vectors.

    Term-major so that a query gathers the rows of its ~60 n-grams instead of multiplying
    the whole matrix.
    """
    block = TfidfBlock()
    block.fit(docs)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for d_index, doc in enumerate(docs):
        idx, val, _hits = block.encode(doc)
        rows.extend(idx)
        cols.extend([d_index] * len(idx))
        vals.extend(val)
    matrix = sp.csr_matrix(
        (vals, (rows, cols)), shape=(len(block.vocab), len(docs)), dtype=np.float64
    )
    return block, matrix


def _cosines(block: TfidfBlock, matrix: sp.csr_matrix, grams: list[str]) -> NDArray[np.float64]:
    """Cosine of the query n-grams with every column document of ``matrix``.

    The rows of the query's terms are gathered with plain numpy (scipy's fancy row indexing
    costs ~0.1 ms per call in validation alone, more than the arithmetic here).
    """
    idx, val, _hits = block.encode(grams)
    return _gathered_cosines(matrix, idx, val)


def _gathered_cosines(
    matrix: sp.csr_matrix, idx: list[int], val: list[float]
) -> NDArray[np.float64]:
    """:func:`_cosines` on the query's already encoded terms (sorted ``idx``, ``val``)."""
    n_docs = matrix.shape[1]
    if not idx:
        return np.zeros(n_docs, dtype=np.float64)
    rows = np.asarray(idx, dtype=np.int64)
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n_docs, dtype=np.float64)
    # Positions of all gathered entries: each row's start repeated over its length, plus
    # the offset within the row.
    row_begin = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    positions = row_begin + np.arange(total)
    weights = matrix.data[positions] * np.repeat(np.asarray(val), lengths)
    sums = np.bincount(matrix.indices[positions], weights=weights, minlength=n_docs)
    return np.asarray(sums, dtype=np.float64)


class _FastPath:
    """What scoring one message needs of a retriever's index, in the shapes that are cheap
    to use per call (built once with the index; read-only afterwards).

    Per message, numpy's fixed cost per call (~1 µs) outweighs the arithmetic on arrays of
    a few dozen elements, so the topic-level work is done on Python lists; only the
    variant-level cosines (~1,500 gathered entries) stay vectorised. Every sum is taken in
    the order the vectorised code took it, so the scores are the same to the last bit.
    """

    __slots__ = (
        "gram_ids",
        "keywords_by_char",
        "n_topics",
        "segment_starts",
        "segment_topics",
        "topic_data",
        "topic_docs",
        "topic_indptr",
    )

    def __init__(
        self,
        topic_matrix: sp.csr_matrix,
        spans: Sequence[tuple[int, int]],
        keywords: Sequence[tuple[str, ...]],
        topic_tfidf: TfidfBlock,
        variant_tfidf: TfidfBlock,
    ) -> None:
        self.n_topics = len(spans)
        # Every n-gram's index in the topic and in the variant vocabulary (None: absent),
        # so that a message's n-grams are looked up once for both indexes.
        topic_vocab, variant_vocab = topic_tfidf.vocab, variant_tfidf.vocab
        self.gram_ids: dict[str, tuple[int | None, int | None]] = {
            gram: (topic_vocab.get(gram), variant_vocab.get(gram))
            for gram in topic_vocab.keys() | variant_vocab.keys()
        }
        self.topic_indptr: list[int] = topic_matrix.indptr.tolist()
        self.topic_docs: list[int] = topic_matrix.indices.tolist()
        self.topic_data: list[float] = topic_matrix.data.tolist()
        # Topics with variants, and where their variants start (variants are stored topic
        # by topic): the segments of a per-topic maximum.
        self.segment_topics = [t for t, (start, end) in enumerate(spans) if end > start]
        self.segment_starts = np.asarray([spans[t][0] for t in self.segment_topics], dtype=np.intp)
        # A keyword can only be in a message that holds its first character: looking up
        # the message's distinct characters leaves a handful of ``in`` tests instead of one
        # per keyword of every topic. A keyword listed twice counts twice, as before.
        self.keywords_by_char: dict[str, list[tuple[str, int]]] = {}
        for t_index, words in enumerate(keywords):
            for word in words:
                self.keywords_by_char.setdefault(word[0], []).append((word, t_index))

    def look_up(self, counts: Counter[str]) -> tuple[dict[int, int], dict[int, int]]:
        """The message's n-gram counts by topic-vocabulary and by variant-vocabulary index
        (one dictionary probe per n-gram for both), for :meth:`weigh`."""
        topic_hits: dict[int, int] = {}
        variant_hits: dict[int, int] = {}
        get = self.gram_ids.get
        for gram, n in counts.items():
            ids = get(gram)
            if ids is not None:
                in_topics, in_variants = ids
                if in_topics is not None:
                    topic_hits[in_topics] = n
                if in_variants is not None:
                    variant_hits[in_variants] = n
        return topic_hits, variant_hits

    @staticmethod
    def weigh(hits: dict[int, int], block: TfidfBlock) -> tuple[list[int], list[float]]:
        """``block.encode(grams)`` (indices and values) from the grams' counts by
        vocabulary index (:meth:`look_up`), so that both indexes count a message's grams
        once: the same arithmetic in the same order, so the same floats (a term seen once
        weighs exactly its idf, as 1 + log 1 is exactly 1.0)."""
        if not hits:
            return [], []
        idx = sorted(hits)
        idf = block.idf
        log = math.log
        vals = [idf[i] if (n := hits[i]) == 1 else (1.0 + log(n)) * idf[i] for i in idx]
        scale = block.weight / math.sqrt(sum(v * v for v in vals))
        off = block.offset
        return [off + i for i in idx], [v * scale for v in vals]

    def topic_cosines(self, idx: list[int], val: list[float]) -> list[float]:
        """:func:`_cosines` over the topic matrix, on the query's encoded terms (a loop over
        the terms' postings: a dense terms × topics copy would be faster by ~10 µs, but
        grows with every topic admins add)."""
        sums = [0.0] * self.n_topics
        indptr, docs, data = self.topic_indptr, self.topic_docs, self.topic_data
        for row, weight in zip(idx, val, strict=True):
            for pos in range(indptr[row], indptr[row + 1]):
                sums[docs[pos]] += data[pos] * weight
        return sums

    def per_topic_max(self, variant_values: NDArray[np.float64]) -> list[float]:
        """Every topic's largest value over its variants (0 for a topic without any)."""
        if not self.segment_topics:
            return [0.0] * self.n_topics
        # The values are cosines of non-negative vectors: the 0 a topic without variants
        # gets is below every maximum, as when all topics started from 0.
        maxima: list[float] = np.maximum.reduceat(variant_values, self.segment_starts).tolist()
        if len(self.segment_topics) == self.n_topics:
            return maxima
        out = [0.0] * self.n_topics
        for t_index, value in zip(self.segment_topics, maxima, strict=True):
            out[t_index] = value
        return out

    def keyword_hits(self, query: str) -> dict[int, int]:
        """Per topic index, how many of its keywords occur in ``query`` (topics with any)."""
        hits: dict[int, int] = {}
        by_char = self.keywords_by_char
        for ch in set(query):
            candidates = by_char.get(ch)
            if candidates:
                for word, t_index in candidates:
                    if word in query:
                        hits[t_index] = hits.get(t_index, 0) + 1
        return hits


def load_knowledge_base(path: str | Path = DEFAULT_KB_PATH) -> list[FAQTopic]:
    """Read ``version: 1`` / ``topics: [...]`` YAML into topic objects (file order)."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("topics", []), list):
        raise ValueError(f"{path}: expected a mapping with a 'topics' list")
    return [FAQTopic.from_dict(t) for t in doc.get("topics") or []]


class FAQRetriever:
    """Similarity index over FAQ topics. Immutable once built; cheap to rebuild (≈50 ms)."""

    #: Weight of the whole-topic cosine against the nearest-variant similarity.
    TOPIC_WEIGHT = 0.8
    #: Weight of the TF-IDF cosine against the fuzzy ratio in a variant's similarity.
    LEXICAL_WEIGHT = 0.65
    #: Score added per topic keyword found in the message (capped at two keywords).
    KEYWORD_BONUS = 0.05
    #: Topics (best by topic cosine) whose variants get the fuzzy comparison.
    FUZZY_TOPICS = 6

    def __init__(
        self,
        topics: Iterable[FAQTopic | Mapping[str, Any]],
        extra_examples: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._topics: dict[str, FAQTopic] = {}
        for t in topics:
            topic = t if isinstance(t, FAQTopic) else FAQTopic.from_dict(t)
            self._topics[topic.id] = topic  # a later definition of an id replaces the earlier
        self._extra = {k: list(v) for k, v in (extra_examples or {}).items() if k in self._topics}
        self.topic_ids: list[str] = list(self._topics)

        variants: list[str] = []
        owners: list[int] = []
        topic_docs: list[list[str]] = []
        self._keywords: list[tuple[str, ...]] = []
        for t_index, topic in enumerate(self._topics.values()):
            texts = [topic.title, *topic.questions, *self._extra.get(topic.id, [])]
            keys = list(dict.fromkeys(k for k in (compact(normalize(t)) for t in texts) if k))
            variants.extend(keys)
            owners.extend([t_index] * len(keys))
            keywords = tuple(k for k in (compact(normalize(w)) for w in topic.keywords) if k)
            self._keywords.append(keywords)
            topic_docs.append([g for k in (*keys, *keywords) for g in char_ngrams(k)])
        self._variants = variants
        self._owners = np.asarray(owners, dtype=np.int64)
        # Variants are stored topic by topic: the slice of each topic's variants.
        starts = np.searchsorted(self._owners, np.arange(len(self._topics)), side="left")
        ends = np.searchsorted(self._owners, np.arange(len(self._topics)), side="right")
        self._spans = [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
        self._variant_tfidf, self._variant_matrix = _index([char_ngrams(v) for v in variants])
        self._topic_tfidf, self._topic_matrix = _index(topic_docs)
        self._fast = _FastPath(
            self._topic_matrix,
            self._spans,
            self._keywords,
            self._topic_tfidf,
            self._variant_tfidf,
        )

    # -- topics ------------------------------------------------------------------------------

    @property
    def topics(self) -> list[FAQTopic]:
        """The indexed topics, in insertion order."""
        return list(self._topics.values())

    def get(self, topic_id: str) -> FAQTopic | None:
        """The topic with that id, if indexed."""
        return self._topics.get(topic_id)

    # -- search ------------------------------------------------------------------------------

    def topic_scores(self, text: str | Prepared) -> NDArray[np.float64]:
        """Score of every topic (order of :attr:`topic_ids`) for one message."""
        return np.asarray(self.topic_score_list(text), dtype=np.float64)

    def topic_score_list(self, text: str | Prepared) -> list[float]:
        """:meth:`topic_scores` as a list of floats (what a caller looping over topics
        wants: indexing a numpy array per element costs more than the list)."""
        scores = self._scores(text, None)
        assert scores is not None
        return scores

    def topic_scores_reaching(self, text: str | Prepared, floor: float) -> list[float] | None:
        """:meth:`topic_score_list`, or ``None`` when no topic's score can reach ``floor``
        (decided on upper bounds, before the costlier parts: a caller that ignores scores
        below ``floor`` gets the same answer for less). Never ``None`` when some score is
        at or above ``floor``."""
        return self._scores(text, floor)

    #: Slack on the upper bounds of :meth:`topic_scores_reaching`, far above the rounding
    #: error of a few float operations.
    _BOUND_SLACK = 1e-9

    def _scores(self, text: str | Prepared, floor: float | None) -> list[float] | None:
        n_topics = len(self.topic_ids)
        if not self._variants:
            return [0.0] * n_topics if floor is None or floor <= 0.0 else None
        query = text.compact if isinstance(text, Prepared) else compact(normalize(text))
        if not query:
            return [0.0] * n_topics if floor is None or floor <= 0.0 else None
        fast = self._fast
        topic_hits, variant_hits = fast.look_up(Counter(char_ngrams(query)))
        topic_cosine = fast.topic_cosines(*fast.weigh(topic_hits, self._topic_tfidf))
        bonus = [0.0] * n_topics
        for t_index, hits in fast.keyword_hits(query).items():
            bonus[t_index] = self.KEYWORD_BONUS * min(hits, 2)
        variant_weight = 1.0 - self.TOPIC_WEIGHT
        fuzzy_weight = 1.0 - self.LEXICAL_WEIGHT
        if floor is not None:
            # A variant's similarity is at most LEXICAL_WEIGHT · 1 (a cosine of unit
            # vectors) + fuzzy_weight · 1 (a ratio of 100) = 1.
            best = max(
                self.TOPIC_WEIGHT * c + variant_weight + b
                for c, b in zip(topic_cosine, bonus, strict=True)
            )
            if best + self._BOUND_SLACK < floor:
                return None
        variant_cosine = self.LEXICAL_WEIGHT * _gathered_cosines(
            self._variant_matrix, *fast.weigh(variant_hits, self._variant_tfidf)
        )
        # Lower bound of every topic's nearest-variant similarity: the cosine part alone.
        nearest = fast.per_topic_max(variant_cosine)
        if floor is not None:
            # The fuzzy part adds at most fuzzy_weight to a variant's cosine part.
            best = max(
                self.TOPIC_WEIGHT * c + variant_weight * (n + fuzzy_weight) + b
                for c, n, b in zip(topic_cosine, nearest, bonus, strict=True)
            )
            if best + self._BOUND_SLACK < floor:
                return None
        # The fuzzy ratio (the costly part) only for the variants of the most promising
        # topics; the others cannot climb past them on a 0.2-weighted term anyway. Ties go
        # to the earlier topic (a stable sort).
        promise = [c + b for c, b in zip(topic_cosine, bonus, strict=True)]
        promising = sorted(range(n_topics), key=lambda t: -promise[t])[: self.FUZZY_TOPICS]
        # One rapidfuzz call over the variants of all of them (the per-call set-up cost
        # more than the ratios), then each topic's best blend.
        fuzzy = [t for t in promising if self._spans[t][0] < self._spans[t][1]]
        if fuzzy:
            choices: list[str] = []
            offsets: list[int] = []
            for t_index in fuzzy:
                start, end = self._spans[t_index]
                offsets.append(len(choices))
                choices.extend(self._variants[start:end])
            ratios = process.cdist([query], choices, scorer=fuzz.ratio, dtype=np.float32, workers=1)
            cosines = np.concatenate(
                [variant_cosine[slice(*self._spans[t_index])] for t_index in fuzzy]
            )
            blended = cosines + fuzzy_weight * (np.asarray(ratios[0], dtype=np.float64) / 100.0)
            best_blends = np.maximum.reduceat(blended, offsets).tolist()
            for t_index, value in zip(fuzzy, best_blends, strict=True):
                nearest[t_index] = value
        topic_weight = self.TOPIC_WEIGHT
        return [
            topic_weight * c + variant_weight * n + b
            for c, n, b in zip(topic_cosine, nearest, bonus, strict=True)
        ]

    def search(self, text: str | Prepared, k: int = 3) -> list[FAQCandidate]:
        """The ``k`` best topics, best first (ties broken by topic order)."""
        scores = self.topic_scores(text)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            FAQCandidate(self.topic_ids[i], self._topics[self.topic_ids[i]].title, float(scores[i]))
            for i in order
        ]

    def match(self, text: str | Prepared, k: int = 3) -> FAQMatch | None:
        """Best topic with up to ``k - 1`` alternatives; ``None`` for an empty index."""
        found = self.search(text, k)
        if not found:
            return None
        best, *rest = found
        return FAQMatch(best.topic, best.title, best.score, rest)
