"""The intent classifier: a linear model over sparse text features, calibrated, with OOS.

Scoring of one message (all intents at once)::

    z = svm_decision(features)  +  knn_weight · nearest_example_similarity_per_intent
    p = softmax(z / temperature)

* ``svm_decision`` — scikit-learn ``LinearSVC`` (one-vs-rest, fixed ``random_state``) on the
  features of :mod:`nlu.features`.
* ``nearest_example_similarity`` — for each intent, the best rapidfuzz ``ratio`` between the
  message and that intent's training examples (a nearest-neighbour ensemble member).
* ``knn_weight`` and ``temperature`` are fitted on out-of-fold predictions (stratified
  k-fold over the training data): the weight by accuracy, the temperature by minimising
  the negative log-likelihood, which is what makes the confidences calibrated. The
  nearest-example term costs ~0.3 ms per parse, so it is switched on only when it gains at
  least ``knn_min_gain`` out-of-fold accuracy; on the project data it gains ~0.1 point and
  stays off (weight 0), but the mechanism adapts if the data changes.

Out of scope: the ``out_of_scope`` intent is trained like any other, and on top a
prediction falls back to it when few of the message's character n-grams were ever seen in
training (``min_coverage``) and the classifier is unsure (``coverage_override``), when the
top confidence is below ``threshold``, or when the top-two margin is below ``margin``.
Unseen words alone are not evidence of an off-topic meaning: place names are masked before
featurising (:func:`nlu.features.mask_place_names`), and a confident prediction on a
message full of unknown words stands.

Artifacts live under a model directory as ``<version>/model.pkl`` + ``metadata.json``;
``LATEST`` names the published one. The version hashes the training data, the model
configuration, the feature-defining sources (:data:`FEATURE_SOURCES`) and
:data:`CODE_VERSION`, so identical inputs give identical versions (and identical pickle
bytes: training is deterministic).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from nlu.features import DOMAIN_DICT, FeatureConfig, Featurizer, Lexicon, Prepared, prepare
from nlu.training_data import TrainingData

__all__ = [
    "CODE_VERSION",
    "DEFAULT_MODEL_DIR",
    "OUT_OF_SCOPE",
    "IntentModel",
    "ModelConfig",
    "ModelError",
    "NearestExamples",
    "Prediction",
    "latest_model_path",
    "load_model",
    "model_version",
    "prune_models",
    "publish_model",
    "save_model",
    "train_model",
]

#: Bump when a code change alters what a model computes from the same data.
CODE_VERSION = "intake-nlu/2"
#: Default artifact directory (relative to the working directory, like the rest of data/).
DEFAULT_MODEL_DIR = Path("data/models")
#: The intent that unrelated or unintelligible messages map to.
OUT_OF_SCOPE = "out_of_scope"

_VOLATILE_METADATA = frozenset({"training_seconds", "saved_at", "sha256"})
_MODEL_FILE = "model.pkl"
_META_FILE = "metadata.json"
_LATEST = "LATEST"


class ModelError(RuntimeError):
    """No usable model artifact (missing, corrupt, or trained by incompatible code)."""


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Classifier hyper-parameters; all of them enter the model version."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    #: LinearSVC regularisation (higher = fit the training data more closely).
    c: float = 1.0
    #: Folds for the out-of-fold predictions that fit temperature and knn weight.
    calibration_folds: int = 5
    #: Candidate weights of the nearest-example score; the best on out-of-fold data wins.
    knn_weights: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5)
    #: Out-of-fold accuracy gain the nearest-example score must bring to be used at all.
    knn_min_gain: float = 0.005
    #: Below this top confidence the message is out of scope. Out-of-fold on the training
    #: data, accuracy is flat up to ~0.2 and drops above it (0.25 costs ~0.3 points).
    threshold: float = 0.2
    #: Below this top-1 minus top-2 confidence the message is out of scope (0 = off).
    margin: float = 0.0
    #: Below this share of known char n-grams (n ≥ 2) the message is out of scope: catches
    #: keyboard mash and foreign scripts, which the classifier has to put somewhere.
    min_coverage: float = 0.15
    #: A prediction at least this confident stands even when its coverage is low: words
    #: the model never saw (names of villages, companies, rare terms) are no evidence that
    #: a message is off-topic; only an unsure guess on unknown words falls back.
    coverage_override: float = 0.5
    #: Intents returned in ``intent_ranking``.
    ranking_size: int = 10
    seed: int = 20240601


@dataclass(frozen=True, slots=True)
class Prediction:
    """Result of classifying one message."""

    intent: str
    confidence: float
    ranking: list[tuple[str, float]]
    #: Why the model fell back to out_of_scope (``None`` when it did not).
    fallback: str | None = None
    #: The classifier's own top intent and its probability, before any fallback.
    predicted: str = ""
    predicted_confidence: float = 0.0


class NearestExamples:
    """Per-intent best fuzzy similarity (rapidfuzz ``ratio``) to the training examples.

    Also serves, on its own, as the benchmark baseline (predict the intent of the single most
    similar example).
    """

    def __init__(self, texts: Sequence[str], labels: Sequence[int], n_classes: int) -> None:
        order = sorted(range(len(texts)), key=lambda i: (labels[i], texts[i]))
        self.texts = [texts[i] for i in order]
        self.labels = np.asarray([labels[i] for i in order], dtype=np.int64)
        self.n_classes = n_classes
        present = np.unique(self.labels)
        # reduceat needs the start offset of every (present) class segment.
        self._present = present
        self._starts = np.searchsorted(self.labels, present)

    def similarities(self, queries: Sequence[str]) -> NDArray[np.float32]:
        """Query × example similarity matrix in [0, 1]."""
        if not self.texts:
            return np.zeros((len(queries), 0), dtype=np.float32)
        matrix = process.cdist(queries, self.texts, scorer=fuzz.ratio, dtype=np.float32, workers=1)
        return np.asarray(matrix, dtype=np.float32) / np.float32(100.0)

    def class_scores_from(self, sims: NDArray[np.float32]) -> NDArray[np.float64]:
        """Per-class maxima of a similarity matrix (classes without examples score 0)."""
        out = np.zeros((sims.shape[0], self.n_classes), dtype=np.float64)
        if sims.shape[1]:
            out[:, self._present] = np.maximum.reduceat(sims, self._starts, axis=1)
        return out

    def class_scores(self, queries: Sequence[str]) -> NDArray[np.float64]:
        """Per-class best similarity, shape (n_queries, n_classes)."""
        return self.class_scores_from(self.similarities(queries))

    def nearest(self, query: str) -> tuple[int, float]:
        """Label and similarity of the single most similar example."""
        sims = self.similarities([query])[0]
        best = int(np.argmax(sims))
        return int(self.labels[best]), float(sims[best])


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def _nll(z: NDArray[np.float64], y: NDArray[np.int64], temperature: float) -> float:
    logp = z / temperature
    logp = logp - logp.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _fit_temperature(z: NDArray[np.float64], y: NDArray[np.int64]) -> float:
    """Temperature minimising NLL, by golden-section search on log T (deterministic)."""
    lo, hi = math.log(0.01), math.log(10.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(z, y, math.exp(c)), _nll(z, y, math.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(z, y, math.exp(d))
    return math.exp((a + b) / 2)


class IntentModel:
    """A trained intent classifier. Build with :func:`train_model`; thread-safe to read."""

    def __init__(
        self,
        *,
        config: ModelConfig,
        intents: list[str],
        featurizer: Featurizer,
        classifier: LinearSVC,
        knn: NearestExamples,
        knn_weight: float,
        temperature: float,
        version: str,
        metadata: dict[str, Any],
    ) -> None:
        self.config = config
        self.intents = intents
        self.featurizer = featurizer
        self.classifier = classifier
        self.knn = knn
        self.knn_weight = knn_weight
        self.temperature = temperature
        self.version = version
        self.metadata = metadata
        self._build_fast_path()

    # Derived arrays are rebuilt on load, and wall-clock facts (training time) stay out of
    # the pickle so that the same data always gives the same artifact bytes; they are in
    # metadata.json instead.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_weights_t", None)
        state.pop("_bias", None)
        state.pop("_oos_index", None)
        state["metadata"] = {k: v for k, v in self.metadata.items() if k not in _VOLATILE_METADATA}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._build_fast_path()

    def _build_fast_path(self) -> None:
        coef = np.asarray(self.classifier.coef_, dtype=np.float64)
        # Feature-major layout: one message touches ~100 rows, gathered contiguously.
        self._weights_t: NDArray[np.float64] = np.ascontiguousarray(coef.T)
        self._bias: NDArray[np.float64] = np.asarray(self.classifier.intercept_, dtype=np.float64)
        self._oos_index = self.intents.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.intents else -1

    @property
    def threshold(self) -> float:
        """Top-confidence threshold below which a message is out of scope."""
        return self.config.threshold

    def with_thresholds(
        self,
        threshold: float | None = None,
        margin: float | None = None,
        min_coverage: float | None = None,
    ) -> IntentModel:
        """A copy sharing the trained weights but with other fallback thresholds."""
        config = replace(
            self.config,
            threshold=self.config.threshold if threshold is None else threshold,
            margin=self.config.margin if margin is None else margin,
            min_coverage=self.config.min_coverage if min_coverage is None else min_coverage,
        )
        clone = IntentModel.__new__(IntentModel)
        clone.__dict__.update(self.__dict__)
        clone.config = config
        return clone

    # -- scoring -------------------------------------------------------------------------

    def decision(self, prepared: Prepared) -> tuple[NDArray[np.float64], float]:
        """Linear scores of all intents and the char n-gram coverage of the message."""
        idx, vals, coverage = self.featurizer.encode_with_coverage(prepared)
        if idx:
            # take() gathers the same rows as fancy indexing, with less per-call overhead.
            rows = self._weights_t.take(idx, axis=0)
            z = np.asarray(vals, dtype=np.float64) @ rows + self._bias
        else:
            z = self._bias.copy()
        return z, coverage

    def probabilities(self, prepared: Prepared) -> tuple[NDArray[np.float64], float]:
        """Calibrated probabilities over :attr:`intents` and the char n-gram coverage."""
        z, coverage = self.decision(prepared)
        if self.knn_weight:
            z = z + self.knn_weight * self.knn.class_scores([prepared.compact])[0]
        return _softmax(z / self.temperature), coverage

    def predict(self, text: str | Prepared) -> Prediction:
        """Classify one message (raw text or an already :func:`prepare`-d one)."""
        prepared = prepare(text) if isinstance(text, str) else text
        probs_array, coverage = self.probabilities(prepared)
        # Python lists from here on: indexing numpy arrays element by element (and turning
        # numpy scalars into floats) costs more than the sort itself.
        order: list[int] = np.argsort(-probs_array, kind="stable").tolist()
        probs: list[float] = probs_array.tolist()
        top, second = order[0], order[1] if len(order) > 1 else order[0]
        p_top = probs[top]
        p_second = probs[second] if second != top else 0.0
        predicted = self.intents[top]

        fallback: str | None = None
        if self._oos_index >= 0:
            unsure = predicted == OUT_OF_SCOPE or p_top < self.config.coverage_override
            if not prepared.compact or (coverage < self.config.min_coverage and unsure):
                # Checked even when out_of_scope is already on top: there the classifier
                # only won by its bias, and the confidence should say "unknown", not 0.09.
                fallback = "unknown_words"
            elif p_top < self.config.threshold:
                fallback = "low_confidence"
            elif p_top - p_second < self.config.margin:
                fallback = "ambiguous"

        size = self.config.ranking_size
        intents = self.intents
        if fallback is None:
            ranking = [(intents[i], probs[i]) for i in order[:size]]
            return Prediction(predicted, p_top, ranking, None, predicted, p_top)
        # Fallback: out_of_scope first, with the probability that the best in-scope guess is
        # wrong as its confidence; the in-scope candidates follow in their own order.
        # (When out_of_scope itself was on top with a low probability, the same rule turns
        # "0.1 for out_of_scope" into "0.9 that it is none of the in-scope intents".)
        rest = [(intents[i], probs[i]) for i in order if i != self._oos_index]
        best_in_scope = rest[0][1] if rest else 0.0
        confidence = max(1.0 - best_in_scope, probs[self._oos_index])
        ranking = [(OUT_OF_SCOPE, confidence), *rest[: size - 1]]
        return Prediction(OUT_OF_SCOPE, confidence, ranking, fallback, predicted, p_top)


# --------------------------------------------------------------------------- training


#: Files whose content decides what the classifier sees of a message (text preparation,
#: place-name masking and their word lists): a change to any of them is a new model, even
#: when nobody remembered to bump :data:`CODE_VERSION`.
_NLU_DIR = Path(__file__).resolve().parent
FEATURE_SOURCES: tuple[Path, ...] = (
    DOMAIN_DICT,
    _NLU_DIR / "features.py",
    _NLU_DIR / "normalize.py",
    _NLU_DIR / "courtesy.py",
    _NLU_DIR / "address.py",
    _NLU_DIR / "resources" / "admin_divisions.txt",
    _NLU_DIR / "resources" / "common_words.txt",
    _NLU_DIR / "resources" / "name_words.txt",
)


def model_version(data: TrainingData, config: ModelConfig) -> str:
    """Version id: hash of training data, configuration, the feature-defining sources
    (:data:`FEATURE_SOURCES`) and code version."""
    h = hashlib.sha256()
    h.update(CODE_VERSION.encode())
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    for source in FEATURE_SOURCES:
        h.update(source.read_bytes())
    h.update(data.fingerprint().encode())
    return h.hexdigest()[:16]


def _fit_svm(x: Any, y: NDArray[np.int64], config: ModelConfig) -> LinearSVC:
    clf = LinearSVC(C=config.c, random_state=config.seed, max_iter=5000, dual=True)
    clf.fit(x, y)
    return clf


def _svm_scores(clf: LinearSVC, x: Any, n_classes: int) -> NDArray[np.float64]:
    """Decision scores in the full class space (a fold may miss a class or be binary)."""
    raw = np.asarray(clf.decision_function(x), dtype=np.float64)
    classes = np.asarray(clf.classes_)
    if raw.ndim == 1:  # binary problem: sklearn returns the score of classes_[1]
        raw = np.stack([-raw, raw], axis=1)
    # An intent absent from a fold's training part can never be predicted there.
    out = np.full((raw.shape[0], n_classes), -10.0, dtype=np.float64)
    out[:, classes] = raw
    return out


def train_model(data: TrainingData, config: ModelConfig | None = None) -> IntentModel:
    """Train a model on ``data`` (deterministic: same data and config → same model)."""
    config = config or ModelConfig()
    if not data.examples:
        raise ValueError("no training examples")
    started = time.perf_counter()
    intents = data.intents
    if len(intents) < 2:
        raise ValueError("need at least two intents to train a classifier")
    index = {name: i for i, name in enumerate(intents)}
    y = np.asarray([index[ex.intent] for ex in data.examples], dtype=np.int64)
    prepared = [prepare(ex.text) for ex in data.examples]
    compact = [p.compact for p in prepared]
    lexicon = Lexicon(data.synonym_map(), data.lookups, data.regexes)
    analysed = [Featurizer(config.features, lexicon).analyze(p) for p in prepared]

    # Out-of-fold scores: what the model says about examples it has not seen. They fit the
    # knn weight and the softmax temperature without touching any held-out set.
    smallest = int(np.bincount(y).min())
    folds = min(config.calibration_folds, smallest)
    knn_weight = 0.0
    temperature = 1.0
    oof_accuracy: float | None = None
    if folds >= 2:
        svm_oof = np.zeros((len(y), len(intents)), dtype=np.float64)
        knn_oof = np.zeros((len(y), len(intents)), dtype=np.float64)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
        for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
            train_terms = [analysed[i] for i in train_idx]
            feat = Featurizer(config.features, lexicon).fit_analyzed(train_terms)
            clf = _fit_svm(feat.transform_analyzed(train_terms), y[train_idx], config)
            test_x = feat.transform_analyzed([analysed[i] for i in test_idx])
            svm_oof[test_idx] = _svm_scores(clf, test_x, len(intents))
            knn = NearestExamples(
                [compact[i] for i in train_idx], y[train_idx].tolist(), len(intents)
            )
            knn_oof[test_idx] = knn.class_scores([compact[i] for i in test_idx])
        svm_only = float((svm_oof.argmax(axis=1) == y).mean())
        best = (svm_only, 0.0)
        for weight in config.knn_weights:
            acc = float(((svm_oof + weight * knn_oof).argmax(axis=1) == y).mean())
            # Ties go to the weight listed first: prefer the simpler model.
            if acc > best[0] + 1e-12:
                best = (acc, weight)
        # The nearest-example score costs ~0.3 ms per parse: only worth a clear gain.
        if best[0] - svm_only < config.knn_min_gain:
            best = (svm_only, 0.0)
        oof_accuracy, knn_weight = best
        temperature = _fit_temperature(svm_oof + knn_weight * knn_oof, y)

    featurizer = Featurizer(config.features, lexicon).fit_analyzed(analysed)
    classifier = _fit_svm(featurizer.transform_analyzed(analysed), y, config)
    knn = NearestExamples(compact, y.tolist(), len(intents))
    version = model_version(data, config)
    metadata: dict[str, Any] = {
        "version": version,
        "code_version": CODE_VERSION,
        "data_fingerprint": data.fingerprint(),
        "n_examples": len(data.examples),
        "n_intents": len(intents),
        "intents": intents,
        "features": featurizer.vocabulary_sizes,
        "knn_weight": knn_weight,
        "temperature": temperature,
        "calibration_folds": folds,
        "oof_accuracy": oof_accuracy,
        "config": asdict(config),
        "training_seconds": round(time.perf_counter() - started, 3),
    }
    return IntentModel(
        config=config,
        intents=intents,
        featurizer=featurizer,
        classifier=classifier,
        knn=knn,
        knn_weight=knn_weight,
        temperature=temperature,
        version=version,
        metadata=metadata,
    )


# --------------------------------------------------------------------------- artifacts


def _atomic_write(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(
    model: IntentModel,
    model_dir: str | Path = DEFAULT_MODEL_DIR,
    *,
    publish: bool = True,
    keep: int | None = 5,
) -> Path:
    """Write ``<model_dir>/<version>/{model.pkl,metadata.json}``; publish it via ``LATEST``.

    Files are written atomically (temp file + rename), so a concurrently running service
    reloading from the same directory never sees half an artifact. Afterwards only the
    ``keep`` most recent artifacts (plus the published one) are kept; ``None`` keeps all.
    """
    root = Path(model_dir)
    target = root / model.version
    target.mkdir(parents=True, exist_ok=True)
    blob = pickle.dumps(model, protocol=5)
    meta = dict(model.metadata)
    meta["sha256"] = hashlib.sha256(blob).hexdigest()
    meta["saved_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _atomic_write(target / _MODEL_FILE, blob)
    _atomic_write(target / _META_FILE, json.dumps(meta, ensure_ascii=False, indent=2).encode())
    if publish:
        _atomic_write(root / _LATEST, (model.version + "\n").encode())
    if keep is not None:
        prune_models(root, keep=keep, protect=(model.version,))
    return target


def prune_models(
    model_dir: str | Path = DEFAULT_MODEL_DIR, *, keep: int = 5, protect: Sequence[str] = ()
) -> list[Path]:
    """Delete all but the ``keep`` newest artifact directories; never the published one or
    those named in ``protect``. Returns the deleted directories."""
    root = Path(model_dir)
    published = latest_model_path(root)
    spared = {*protect, published.name if published else ""}
    artifacts = sorted(
        (p for p in root.iterdir() if p.is_dir() and (p / _MODEL_FILE).is_file()),
        key=lambda p: ((p / _MODEL_FILE).stat().st_mtime, p.name),
        reverse=True,
    )
    removed: list[Path] = []
    for folder in artifacts[keep:]:
        if folder.name in spared:
            continue
        # Only files this module (and the console's evaluation, which puts its confusion
        # matrix next to the artifact) writes; anything else makes rmdir fail and the dir stay.
        for name in (_MODEL_FILE, _META_FILE, "confusion.png"):
            (folder / name).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            continue
        removed.append(folder)
    return removed


def publish_model(model_dir: str | Path, version: str) -> Path:
    """Make the already saved artifact ``version`` the published one (``LATEST``).

    The artifact is loaded (and so checksum-verified) first: ``LATEST`` never names a
    missing or broken model. ``LATEST`` is replaced atomically. Raises :class:`ModelError`.
    """
    root = Path(model_dir)
    if not version or version != Path(version).name or version.startswith("."):
        raise ModelError(f"not a model version: {version!r}")
    folder = root / version
    model = load_model(folder)
    if model.version != version:
        raise ModelError(f"artifact {folder} holds model {model.version}, not {version}")
    _atomic_write(root / _LATEST, (version + "\n").encode())
    return folder


def latest_model_path(model_dir: str | Path = DEFAULT_MODEL_DIR) -> Path | None:
    """The published artifact directory (``LATEST``), else the newest saved one, else None."""
    root = Path(model_dir)
    pointer = root / _LATEST
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        if name and (root / name / _MODEL_FILE).is_file():
            return root / name
    candidates = [
        p for p in root.glob("*/") if (p / _MODEL_FILE).is_file() and (p / _META_FILE).is_file()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda p: ((p / _MODEL_FILE).stat().st_mtime, p.name))


def load_model(path: str | Path) -> IntentModel:
    """Load an artifact directory written by :func:`save_model` (checksum-verified)."""
    folder = Path(path)
    try:
        meta = json.loads((folder / _META_FILE).read_text(encoding="utf-8"))
        blob = (folder / _MODEL_FILE).read_bytes()
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model artifact at {folder}: {exc}") from exc
    if meta.get("code_version") != CODE_VERSION:
        raise ModelError(
            f"model at {folder} was trained by {meta.get('code_version')!r}, "
            f"this code is {CODE_VERSION!r}"
        )
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ModelError(f"model at {folder} does not match its checksum")
    # The artifact is one this code wrote into the operator's own model directory and its
    # checksum matches the metadata written alongside it; it is not untrusted input.
    model = pickle.loads(blob)  # noqa: S301
    if not isinstance(model, IntentModel):
        raise ModelError(f"{folder / _MODEL_FILE} does not hold an IntentModel")
    return model
