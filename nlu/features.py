"""Text preparation and sparse features for the intent classifier.

Pipeline for one message::

    raw text ──request_core()──► request ──mask_place_names()──► masked
      ──normalize()──► normalized ──strip spaces/punctuation──► compact
                          └──jieba (+ domain dictionary)──► tokens

(greetings and thanks around a request are dropped; the proper names of places become 某.)

Features (each block TF-IDF weighted with sublinear tf, L2-normalised on its own, then
scaled by a block weight, so that no block drowns the others):

* ``char``: character n-grams (1–3 by default) of the compact text, with ``^``/``$``
  boundary marks so that short control messages ("好的", "不是") get whole-message features;
* ``word``: word n-grams (1–2) of the jieba tokens;
* ``lex``: lexicon features from the training data — the canonical value of any synonym
  present (synonym expansion: "医保码" also fires the feature of "医保电子凭证"), the name of
  any lookup table with an entry present, the name of any regex that matches. Worth ~1
  point of cross-validated accuracy on the project data.

Besides the vector, encoding reports the message's *coverage* (share of its char n-grams,
n ≥ 2, seen in training, or of its text covered by synonyms): the model's out-of-scope
signal for keyboard mash and foreign scripts.

The vectoriser is our own (not ``TfidfVectorizer``) because parsing is one message at a
time: sklearn's per-call validation costs more than the whole computation here, and a
dict-lookup path keeps a parse well under a millisecond.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import threading
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import mul
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from nlu.address import MessagePlaces, place_name_spans
from nlu.courtesy import request_core
from nlu.normalize import normalize

__all__ = [
    "DOMAIN_DICT",
    "PLACE_MASK",
    "Analysis",
    "FeatureConfig",
    "Featurizer",
    "Lexicon",
    "Prepared",
    "TfidfBlock",
    "char_ngrams",
    "compact",
    "get_tokenizer",
    "mask_place_names",
    "prepare",
    "set_cache_dir",
    "tokenize",
]

#: Domain vocabulary for jieba (one ``word [freq] [tag]`` per line).
DOMAIN_DICT = Path(__file__).resolve().parent / "resources" / "domain_dict.txt"

_tokenizer: Any = None
_tokenizer_lock = threading.Lock()


_cache_dir: Path | None = None


def set_cache_dir(path: Path | None) -> None:
    """Where jieba keeps its dictionary cache (``INTAKE_JIEBA_CACHE_DIR``; ``None``: the
    default). Call it at start-up, before the first tokenisation."""
    global _cache_dir
    _cache_dir = path


def _jieba_cache_dir() -> Path:
    # jieba's default cache is one shared /tmp/jieba.cache; a directory of our own (per
    # user, overridable) avoids clashing with other jieba users and never touches
    # site-packages. Offline is fine: the cache is rebuilt from the dictionary inside the
    # jieba wheel on first use (~1 s), nothing is downloaded.
    path = _cache_dir or Path(tempfile.gettempdir()) / f"intake-jieba-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def get_tokenizer() -> Any:
    """The process-wide jieba tokenizer with the domain dictionary, initialised once.

    A private ``jieba.Tokenizer`` instance (not ``jieba.dt``) so that other code adding
    words to jieba's global dictionary cannot change how a trained model sees its input.
    """
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            import jieba

            # jieba logs "Building prefix dict ..." at DEBUG to stderr on every start; its
            # logger is its own, so raising the level silences only that.
            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.tmp_dir = str(_jieba_cache_dir())
            tok.initialize()
            with DOMAIN_DICT.open("rb") as fh:
                tok.load_userdict(fh)
            _tokenizer = tok
    return _tokenizer


class Prepared(NamedTuple):
    """One message after normalisation and tokenisation (computed once per parse)."""

    normalized: str
    compact: str
    tokens: tuple[str, ...]


def _is_noise(ch: str) -> bool:
    # Whitespace, punctuation and symbols carry no intent signal after normalisation and
    # would otherwise create n-grams like "了。" that split the statistics of "了".
    return ch.isspace() or unicodedata.category(ch)[0] in {"P", "Z", "S", "C"}


def tokenize(normalized: str) -> tuple[str, ...]:
    """jieba tokens of already-normalised text, without whitespace/punctuation tokens."""
    tok = get_tokenizer()
    return tuple(t for t in tok.lcut(normalized, HMM=True) if t and not all(map(_is_noise, t)))


#: What a place's own name becomes before classification ("绿地香树花城7栋" → "某7栋"):
#: the word residents themselves write for a name they leave out (某某花园物业).
PLACE_MASK = "某"


def mask_place_names(text: str, message: MessagePlaces | None = None) -> str:
    """``text`` with the proper-name part of every place replaced by :data:`PLACE_MASK`.

    Residents name estates, villages, roads and companies the model has never seen. Those
    names say nothing about what the message is about, but as unseen characters they made
    a clear complaint look like unknown vocabulary ("云栖湾三期电梯频繁困人"), and as seen
    ones they let a place name stand for an intent. The type words stay (路, 村, 小学, 医院,
    3号楼): they do carry meaning. ``message``: ``text``'s places, if already scanned.
    """
    spans = place_name_spans(text, message)
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        parts.append(text[pos:start])
        parts.append(PLACE_MASK)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def prepare(text: str, message: MessagePlaces | None = None) -> Prepared:
    """The classifier's view of ``text``: the request without courtesy around it, place
    names masked, normalised, compacted and tokenised.

    ``message`` (built from ``text``) lends its place scan when no courtesy is dropped:
    the names to mask are then those of the whole message, already found for its entities.
    """
    core = request_core(text)
    shared = message if message is not None and core == text else None
    normalized = normalize(mask_place_names(core, shared))
    return Prepared(normalized, compact(normalized), tokenize(normalized))


class Analysis(NamedTuple):
    """Terms of one message per feature block (see :meth:`Featurizer.analyze`)."""

    char: list[str]
    word: list[str]
    lex: list[str]
    #: Share of the compact text covered by synonym matches (an "is known" signal).
    synonym_share: float


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Featuriser hyper-parameters (part of the model version)."""

    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 2)
    char_weight: float = 1.0
    word_weight: float = 0.8
    lexicon_weight: float = 0.5
    min_df: int = 1


class Lexicon:
    """Synonyms, lookup tables and regexes from the training data, as feature detectors."""

    def __init__(
        self,
        synonyms: Mapping[str, str] | None = None,
        lookups: Mapping[str, Sequence[str]] | None = None,
        regexes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        # Variants are normalised like messages. Sorted longest first: in a regex
        # alternation the first alternative that matches at a position wins, so
        # "医保电子凭证" is taken before "医保" — the most specific variant at each place.
        pairs: dict[str, str] = {}
        for variant, canonical in (synonyms or {}).items():
            key = compact(normalize(variant))
            if key:
                pairs.setdefault(key, compact(normalize(canonical)))
        for canonical in sorted({v for v in pairs.values() if v}):
            pairs.setdefault(canonical, canonical)
        self.synonyms: dict[str, str] = dict(
            sorted(pairs.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        )
        self._synonym_re = _alternation(self.synonyms)
        # Sorted tuples, not sets: set order depends on the per-process hash seed and would
        # make the pickled model differ between two identical trainings.
        self.lookups: list[tuple[str, re.Pattern[str]]] = []
        for name, entries in sorted((lookups or {}).items()):
            keys = sorted({k for k in (compact(normalize(e)) for e in entries) if len(k) >= 2})
            alternation = _alternation(sorted(keys, key=lambda k: (-len(k), k)))
            if alternation is not None:
                self.lookups.append((name, alternation))
        self.regexes: list[tuple[str, re.Pattern[str]]] = []
        for name, patterns in sorted((regexes or {}).items()):
            for pattern in patterns:
                try:
                    self.regexes.append((name, re.compile(pattern)))
                except re.error:
                    # A pattern Python cannot compile (Rasa accepts some other dialects) is
                    # skipped rather than making the whole model untrainable.
                    continue

    def canonical_spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping synonym matches in compact ``text``: (start, end, canonical)."""
        if self._synonym_re is None:
            return []
        return [
            (m.start(), m.end(), self.synonyms[m.group(0)]) for m in self._synonym_re.finditer(text)
        ]

    def features(self, prepared: Prepared) -> list[str]:
        """Lexicon feature names present in a message (may repeat → counted as tf)."""
        return self.analyze(prepared)[0]

    def analyze(self, prepared: Prepared) -> tuple[list[str], float]:
        """Feature names and the share of the compact text covered by synonym matches."""
        text = prepared.compact
        spans = self.canonical_spans(text)
        covered = sum(end - start for start, end, _c in spans)
        out = ["syn:" + canonical for _s, _e, canonical in spans]
        for name, pattern in self.lookups:
            if pattern.search(text):
                out.append("lookup:" + name)
        for name, pattern in self.regexes:
            if pattern.search(prepared.normalized):
                out.append("regex:" + name)
        return out, covered / len(text) if text else 0.0


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    items = list(words)
    if not items:
        return None
    return re.compile("|".join(re.escape(w) for w in items))


def char_ngrams(text: str, lo: int = 1, hi: int = 3, boundaries: bool = True) -> list[str]:
    """All character n-grams of ``text`` for n in [lo, hi].

    With ``boundaries`` the text is wrapped in ``^``…``$`` first, so "^好的$" becomes a
    feature of the whole short message; the bare marks themselves are not features. The
    n-grams come by increasing n (the coverage of :meth:`Featurizer.encode_analyzed`
    relies on it).
    """
    padded = f"^{text}$" if boundaries else text
    out: list[str] = []
    n_chars = len(padded)
    for n in range(lo, hi + 1):
        for i in range(n_chars - n + 1):
            gram = padded[i : i + n]
            if gram not in {"^", "$", "^$"}:
                out.append(gram)
    return out


def compact(text: str) -> str:
    """``text`` without whitespace, punctuation and symbols (expects normalised input)."""
    return "".join(ch for ch in text if not _is_noise(ch))


class TfidfBlock:
    """Vocabulary and IDF of one feature block; encodes a term list as a weighted unit vector."""

    __slots__ = ("idf", "offset", "vocab", "weight")

    def __init__(self, weight: float = 1.0) -> None:
        self.vocab: dict[str, int] = {}
        # A plain list: indexing it per term is several times faster than a numpy array.
        self.idf: list[float] = []
        self.weight = weight
        self.offset = 0

    def fit(self, docs: Sequence[Sequence[str]], min_df: int = 1) -> None:
        """Learn the vocabulary (terms in at least ``min_df`` docs) and smoothed IDF."""
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(set(doc))
        # Sorted vocabulary: iteration order of the Counter must not leak into the model.
        terms = sorted(t for t, n in df.items() if n >= min_df)
        self.vocab = {t: i for i, t in enumerate(terms)}
        n_docs = len(docs)
        # Smoothed IDF, as in scikit-learn's TfidfTransformer(smooth_idf=True).
        self.idf = [math.log((1 + n_docs) / (1 + df[t])) + 1.0 for t in terms]

    def encode(self, doc: Iterable[str]) -> tuple[list[int], list[float], int]:
        """Sorted indices (shifted by ``offset``), sublinear-tf·idf values scaled to L2 norm
        ``weight``, and the number of in-vocabulary term occurrences."""
        return self.encode_indices(map(self.vocab.get, doc))

    def encode_indices(self, looked_up: Iterable[int | None]) -> tuple[list[int], list[float], int]:
        """:meth:`encode` on the terms' vocabulary indices (``None``: not in the vocabulary),
        for a caller that needs the lookups for something else too."""
        hits = [i for i in looked_up if i is not None]
        if not hits:
            return [], [], 0
        distinct = set(hits)
        idx_list = sorted(distinct)
        idf = self.idf
        # Sublinear tf, (1 + log tf)·idf: for a term seen once that is exactly idf (log 1 is
        # 0.0, and 1.0 times a float is that float), so only repeated terms need the log.
        vals = [idf[i] for i in idx_list]
        if len(distinct) < len(hits):
            counts = Counter(hits)
            log = math.log
            for k, i in enumerate(idx_list):
                if (n := counts[i]) > 1:
                    vals[k] = (1.0 + log(n)) * idf[i]
        # map(mul) sums the same squares in the same order as a generator, for less.
        scale = self.weight / math.sqrt(sum(map(mul, vals, vals)))
        off = self.offset
        return [off + i for i in idx_list], [v * scale for v in vals], len(hits)


class Featurizer:
    """Char n-gram + word n-gram + lexicon TF-IDF features; fit on prepared training texts."""

    def __init__(self, config: FeatureConfig | None = None, lexicon: Lexicon | None = None) -> None:
        self.config = config or FeatureConfig()
        self.lexicon = lexicon or Lexicon()
        self._blocks = {
            "char": TfidfBlock(self.config.char_weight),
            "word": TfidfBlock(self.config.word_weight),
            "lex": TfidfBlock(self.config.lexicon_weight),
        }
        self.n_features = 0

    # -- analysers -------------------------------------------------------------------

    def char_terms(self, prepared: Prepared) -> list[str]:
        """Character n-grams of the compact text, with boundary marks."""
        lo, hi = self.config.char_ngrams
        return char_ngrams(prepared.compact, lo, hi)

    def word_terms(self, prepared: Prepared) -> list[str]:
        """Word n-grams of the jieba tokens (joined by a space)."""
        lo, hi = self.config.word_ngrams
        toks = prepared.tokens
        out: list[str] = []
        for n in range(lo, hi + 1):
            for i in range(len(toks) - n + 1):
                out.append(" ".join(toks[i : i + n]))
        return out

    def analyze(self, prepared: Prepared) -> Analysis:
        """Terms of every block. Independent of the fitted vocabulary, so training computes
        them once per example and reuses them across cross-validation folds."""
        lex, synonym_share = self.lexicon.analyze(prepared)
        return Analysis(self.char_terms(prepared), self.word_terms(prepared), lex, synonym_share)

    # -- fit / transform ---------------------------------------------------------------

    def fit(self, prepared: Sequence[Prepared]) -> Featurizer:
        """Build vocabularies and IDF weights from training messages."""
        return self.fit_analyzed([self.analyze(p) for p in prepared])

    def fit_analyzed(self, analysed: Sequence[Analysis]) -> Featurizer:
        """:meth:`fit` on the output of :meth:`analyze`."""
        offset = 0
        for name, block in self._blocks.items():
            block.fit([getattr(a, name) for a in analysed], self.config.min_df)
            block.offset = offset
            offset += len(block.vocab)
        self.n_features = offset
        return self

    def encode(self, prepared: Prepared) -> tuple[list[int], list[float]]:
        """Sparse feature vector of one message: sorted column indices and their values."""
        idx, val, _coverage = self.encode_with_coverage(prepared)
        return idx, val

    def encode_with_coverage(self, prepared: Prepared) -> tuple[list[int], list[float], float]:
        """:meth:`encode` plus the share of the message's char n-grams seen in training.

        The coverage is an out-of-scope signal independent of any intent: keyboard mash or a
        message in another script shares almost no n-grams with the training data, yet the
        classifier still has to put its probability mass somewhere.
        """
        return self.encode_analyzed(self.analyze(prepared))

    def encode_analyzed(self, terms: Analysis) -> tuple[list[int], list[float], float]:
        """:meth:`encode_with_coverage` on the output of :meth:`analyze`."""
        indices: list[int] = []
        values: list[float] = []
        # The char n-grams are looked up once, for their features and for the coverage.
        char_block = self._blocks["char"]
        char_looked_up = list(map(char_block.vocab.get, terms.char))
        for name, block in self._blocks.items():
            if block is char_block:
                idx, val, _hits = block.encode_indices(char_looked_up)
            else:
                idx, val, _hits = block.encode(getattr(terms, name))
            indices.extend(idx)
            values.extend(val)
        # Coverage counts n-grams of two or more characters only: single letters and common
        # characters ("我", "a") are known for nearly any input, keyboard mash included. A
        # text the synonym lists cover (typos such as "蟹蟹" for 谢谢) counts as known too.
        # char_ngrams() lists the n-grams by increasing n: the single characters come first.
        longer = char_looked_up[bisect_right(terms.char, 1, key=len) :]
        coverage = (len(longer) - longer.count(None)) / len(longer) if longer else 0.0
        return indices, values, max(coverage, terms.synonym_share)

    def transform(self, prepared: Sequence[Prepared]) -> sp.csr_matrix:
        """Feature matrix (n_messages × n_features, CSR, float64)."""
        return self.transform_analyzed([self.analyze(p) for p in prepared])

    def transform_analyzed(self, analysed: Sequence[Analysis]) -> sp.csr_matrix:
        """:meth:`transform` on the output of :meth:`analyze`."""
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for terms in analysed:
            idx, val, _coverage = self.encode_analyzed(terms)
            indices.extend(idx)
            data.extend(val)
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(analysed), self.n_features),
        )

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        """Number of features per block (for the model metadata)."""
        return {name: len(block.vocab) for name, block in self._blocks.items()}
