"""The NLU facade the bot calls: ``NLUService.parse(text) -> dict`` in Rasa's format.

Result of :meth:`NLUService.parse`::

    {
      "text": "...",                                   # the message as received
      "intent": {"name": "faq.medical.offsite", "confidence": 0.91},
      "intent_ranking": [{"name": ..., "confidence": ...}, ...],   # top 10, best first
      "entities": [{"entity", "value", "start", "end"}, ...],      # from nlu.entities
      # extra keys (not Rasa):
      "faq": {"topic", "title", "score", "alternatives": [{"topic", "title", "score"}]} | None,
      "fallback": None | "unknown_words" | "low_confidence" | "ambiguous",
      "model_version": "3f2a...",
    }

``faq`` is set when the intent is a FAQ topic (best topic plus runner-ups for a "did you
mean 1/2/3" reply), and also for an out-of-scope message that resembles some topic, so the
bot can offer suggestions. A FAQ topic that admins added at run time (unknown to the
classifier) can win through retrieval alone.

Concurrency: the service holds one immutable :class:`_Runtime` (model + FAQ index). Readers
take the reference once per parse; ``reload()``/``train()``/topic edits build a new runtime
off to the side and swap the reference under a lock, so a parse never sees a half-updated
state and nothing needs a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu.address import MessagePlaces
from nlu.courtesy import split_courtesy
from nlu.entities import extract_entities
from nlu.faq_retrieval import (
    DEFAULT_KB_PATH,
    FAQCandidate,
    FAQMatch,
    FAQRetriever,
    FAQTopic,
    load_knowledge_base,
)
from nlu.features import prepare
from nlu.model import (
    DEFAULT_MODEL_DIR,
    OUT_OF_SCOPE,
    IntentModel,
    ModelConfig,
    ModelError,
    Prediction,
    latest_model_path,
    load_model,
    model_version,
    save_model,
    train_model,
)
from nlu.training_data import DEFAULT_DATA_DIR, TrainingData, load_training_data

__all__ = [
    "COURTESY_INTENTS",
    "FAQ_PREFIX",
    "NLUService",
    "ParserConfig",
    "build_result",
    "faq_examples",
]

log = logging.getLogger(__name__)

#: Intent ids of FAQ topics start with this.
FAQ_PREFIX = "faq."


@dataclass(frozen=True, slots=True)
class ParserConfig:
    """How classifier and FAQ retrieval are combined."""

    #: Weight of the classifier probability against the retrieval score when ranking topics.
    classifier_weight: float = 0.7
    #: Retrieval score at which a low-confidence (fallback) out-of-scope message is
    #: answered by the FAQ topic instead. On the shipped KB, the training data's
    #: out_of_scope examples score at most ~0.25, faq examples have a median of ~0.42 and
    #: verbatim KB questions ~0.63.
    faq_override_score: float = 0.35
    #: Same, when the classifier itself chose out_of_scope: a near-verbatim KB question
    #: (typically a topic admins added after training) is needed to overrule it.
    faq_override_confident_score: float = 0.5
    #: Retrieval score at which an out-of-scope message still gets topic suggestions.
    faq_suggest_score: float = 0.25
    #: Topics returned in ``faq`` (best + alternatives).
    faq_candidates: int = 3
    #: A message is classified without the greeting and thanks around it; when what is
    #: left says nothing in scope (off-topic, or a control intent below this confidence),
    #: the courtesy words decide ("谢谢你们，效率真高" is thanks).
    courtesy_fallback: float = 0.5


#: What the courtesy words around a message can stand for on their own.
COURTESY_INTENTS = frozenset({"greet", "thanks", "goodbye"})


@dataclass(frozen=True, slots=True)
class _Runtime:
    model: IntentModel
    retriever: FAQRetriever
    topics: tuple[FAQTopic, ...]


def faq_examples(model: IntentModel) -> dict[str, list[str]]:
    """The model's training examples of FAQ intents (compacted), keyed by topic id."""
    out: dict[str, list[str]] = {}
    for text, label in zip(model.knn.texts, model.knn.labels.tolist(), strict=True):
        name = model.intents[label]
        if name.startswith(FAQ_PREFIX):
            out.setdefault(name, []).append(text)
    return out


def build_result(
    text: str,
    model: IntentModel,
    retriever: FAQRetriever | None,
    config: ParserConfig,
    entities: list[dict[str, Any]],
    message: MessagePlaces | None = None,
) -> dict[str, Any]:
    """Classify ``text`` and fuse with FAQ retrieval into a Rasa-format result dict.

    ``message``: ``text``'s places as the entity extraction left them (scanned once).
    """
    prepared = prepare(text, message)
    prediction = _courtesy_fallback(text, model.predict(prepared), model, config)
    intent_name, confidence = prediction.intent, prediction.confidence
    ranking = [{"name": n, "confidence": c} for n, c in prediction.ranking]
    fallback = prediction.fallback
    faq: FAQMatch | None = None

    is_faq = intent_name.startswith(FAQ_PREFIX)
    faq_switch = True
    if retriever is not None and retriever.topic_ids and (is_faq or intent_name == OUT_OF_SCOPE):
        if is_faq:
            retrieval = retriever.topic_score_list(prepared)
            by_retrieval = _best(retrieval, config.faq_candidates)
            top_topic = retriever.topic_ids[by_retrieval[0]]
            if (
                top_topic not in model.intents
                and retrieval[by_retrieval[0]] >= config.faq_override_score
            ):
                # A topic admins added after training: the classifier cannot know it, so
                # retrieval alone decides when it is the closest topic by a clear score.
                faq = _match(retriever, by_retrieval, retrieval)
            elif intent_name in retriever.topic_ids:
                # The classifier decided "this is a FAQ question"; the topic is ranked by
                # classifier probability and retrieval together.
                probs = dict(prediction.ranking)
                fused = [
                    config.classifier_weight * probs.get(tid, 0.0)
                    + (1.0 - config.classifier_weight) * min(r, 1.0)
                    for tid, r in zip(retriever.topic_ids, retrieval, strict=True)
                ]
                faq = _match(retriever, _best(fused, config.faq_candidates), fused)
            else:
                # A FAQ intent without a KB topic: keep it, offer the closest topics.
                faq = _match(retriever, by_retrieval, retrieval)
                faq_switch = False
            if faq is not None and faq_switch and faq.topic != intent_name:
                intent_name = faq.topic
                confidence = min(faq.score, 1.0)
                ranking = _promote(ranking, intent_name, confidence, model.config.ranking_size)
        else:
            needed = (
                config.faq_override_score
                if prediction.fallback is not None
                else config.faq_override_confident_score
            )
            override = prediction.fallback != "unknown_words"
            # Below the lower of the two thresholds a score changes nothing, so the
            # retriever may stop as soon as its upper bounds show no topic gets there
            # (most out-of-scope messages: addresses, phone numbers, "确认" …).
            floor = min(needed, config.faq_suggest_score) if override else config.faq_suggest_score
            reached = retriever.topic_scores_reaching(prepared, floor)
            if reached is not None:
                order = _best(reached, config.faq_candidates)
                best = reached[order[0]]
                if best >= needed and override:
                    faq = _match(retriever, order, reached)
                    intent_name, confidence, fallback = faq.topic, min(best, 1.0), None
                    ranking = _promote(ranking, intent_name, confidence, model.config.ranking_size)
                elif best >= config.faq_suggest_score:
                    faq = _match(retriever, order, reached)

    return {
        "text": text,
        "intent": {"name": intent_name, "confidence": float(confidence)},
        "intent_ranking": ranking,
        "entities": entities,
        "faq": faq.as_dict() if faq is not None else None,
        "fallback": fallback,
        "model_version": model.version,
    }


def _courtesy_fallback(
    text: str, prediction: Prediction, model: IntentModel, config: ParserConfig
) -> Prediction:
    """The courtesy around a message stands for the message when its core is empty talk."""
    core_says_something = prediction.fallback is None and (
        prediction.intent.startswith(("report.", FAQ_PREFIX))
        or prediction.intent == "emergency"
        or (prediction.intent != OUT_OF_SCOPE and prediction.confidence >= config.courtesy_fallback)
    )
    if core_says_something:
        return prediction
    _core, courtesy = split_courtesy(text)
    if not courtesy:
        return prediction
    alternative = model.predict(prepare(courtesy))
    if (
        alternative.intent in COURTESY_INTENTS
        and alternative.confidence >= config.courtesy_fallback
    ):
        return alternative
    return prediction


def _best(scores: list[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first, ties to the lower index (what a
    stable ``argsort`` of the negated scores gives; on ~25 topics sorting a list is
    cheaper than the numpy round trip)."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])[:k]


def _match(retriever: FAQRetriever, order: list[int], scores: list[float]) -> FAQMatch:
    cands = [retriever.topic_ids[i] for i in order]
    titles = [t.title if (t := retriever.get(c)) else "" for c in cands]
    items = [FAQCandidate(c, ti, scores[i]) for c, ti, i in zip(cands, titles, order, strict=True)]
    best, *rest = items
    return FAQMatch(best.topic, best.title, best.score, rest)


def _promote(
    ranking: list[dict[str, Any]], name: str, confidence: float, size: int
) -> list[dict[str, Any]]:
    rest = [r for r in ranking if r["name"] != name]
    return [{"name": name, "confidence": float(confidence)}, *rest][:size]


class NLUService:
    """Loads (or trains) the intent model and the FAQ index; parses messages; hot-swaps.

    ``model_dir`` holds the artifacts (``<version>/``, ``LATEST``). On first use the
    published artifact is loaded; if there is none (or it cannot be used) and
    ``train_if_missing`` is true, a model is trained from ``training_data`` and saved.
    """

    def __init__(
        self,
        model_dir: str | Path = DEFAULT_MODEL_DIR,
        *,
        training_data: str | Path | Sequence[str | Path] = DEFAULT_DATA_DIR,
        knowledge_base: str | Path | None = DEFAULT_KB_PATH,
        faq_topics: Iterable[FAQTopic | Mapping[str, Any]] | None = None,
        model_config: ModelConfig | None = None,
        parser_config: ParserConfig | None = None,
        threshold: float | None = None,
        train_if_missing: bool = True,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.training_data = training_data
        self.model_config = model_config or ModelConfig()
        self.parser_config = parser_config or ParserConfig()
        self.train_if_missing = train_if_missing
        self._threshold = threshold
        if faq_topics is not None:
            self._topics: tuple[FAQTopic, ...] = tuple(
                t if isinstance(t, FAQTopic) else FAQTopic.from_dict(t) for t in faq_topics
            )
        elif knowledge_base is not None and Path(knowledge_base).is_file():
            self._topics = tuple(load_knowledge_base(knowledge_base))
        else:
            self._topics = ()
        self._runtime: _Runtime | None = None
        self._lock = threading.RLock()

    # -- state -------------------------------------------------------------------------------

    def _runtime_or_load(self) -> _Runtime:
        runtime = self._runtime
        if runtime is not None:
            return runtime
        with self._lock:
            if self._runtime is None:
                self._install(self._load_or_train())
            assert self._runtime is not None
            return self._runtime

    def _load_or_train(self) -> IntentModel:
        path = latest_model_path(self.model_dir)
        if path is not None:
            try:
                return load_model(path)
            except ModelError as exc:
                if not self.train_if_missing:
                    raise
                log.warning("cannot use model at %s (%s); retraining", path, exc)
        elif not self.train_if_missing:
            raise ModelError(f"no trained model under {self.model_dir}")
        return self._train_and_save(load_training_data(self.training_data), publish=True)

    def _train_and_save(self, data: TrainingData, *, publish: bool) -> IntentModel:
        model = train_model(data, self.model_config)
        save_model(model, self.model_dir, publish=publish)
        log.info("trained NLU model %s in %.1fs", model.version, model.metadata["training_seconds"])
        return model

    def _install(self, model: IntentModel, topics: tuple[FAQTopic, ...] | None = None) -> None:
        if self._threshold is not None:
            model = model.with_thresholds(threshold=self._threshold)
        topics = self._topics if topics is None else topics
        retriever = FAQRetriever(topics, faq_examples(model))
        # One reference assignment: readers see either the old or the new runtime.
        self._runtime = _Runtime(model, retriever, topics)
        self._topics = topics

    # -- public API --------------------------------------------------------------------------

    @property
    def model(self) -> IntentModel:
        """The model in use (loaded or trained on first access)."""
        return self._runtime_or_load().model

    @property
    def version(self) -> str:
        """Version id of the model in use."""
        return self.model.version

    @property
    def threshold(self) -> float:
        """Out-of-scope confidence threshold in use."""
        return self.model.threshold

    @property
    def faq(self) -> FAQRetriever:
        """The FAQ index in use."""
        return self._runtime_or_load().retriever

    def is_stale(self) -> bool:
        """True when the training files (or model config) no longer match the model in use,
        i.e. ``train()`` would produce a different version."""
        data = load_training_data(self.training_data)
        return model_version(data, self.model_config) != self.model.version

    def warm_up(self) -> None:
        """Load the model, initialise jieba and run one parse, so the first user waits less."""
        self.parse("你好")

    def parse(self, text: str) -> dict[str, Any]:
        """Parse one message into a Rasa-format dict (see the module docstring)."""
        runtime = self._runtime_or_load()
        # Entities and the classifier's name masking both read the message's places: one
        # normalisation, and one scan when the extraction claims nothing before it.
        message = MessagePlaces(text)
        entities = [e.as_dict() for e in extract_entities(text, message)]
        return build_result(
            text, runtime.model, runtime.retriever, self.parser_config, entities, message
        )

    def reload(self, version: str | None = None) -> str:
        """Load the published artifact (or the saved ``version``) from ``model_dir`` and swap
        it in; return its version.

        Raises :class:`~nlu.model.ModelError` when there is none (the running model stays).
        """
        path = self.model_dir / version if version else latest_model_path(self.model_dir)
        if path is None or not path.is_dir():
            raise ModelError(f"no trained model {version or ''} under {self.model_dir}")
        model = load_model(path)
        with self._lock:
            self._install(model)
        return model.version

    def use_model(self, model: IntentModel) -> None:
        """Swap in an already loaded or trained model (nothing is read or written)."""
        with self._lock:
            self._install(model)

    def train(self, data: TrainingData | None = None, *, publish: bool = True) -> str:
        """Train on ``data`` (default: the configured training files), save, swap in.

        With ``publish=False`` the artifact is saved but ``LATEST`` is left alone and the
        running model is not replaced.
        """
        data = data if data is not None else load_training_data(self.training_data)
        model = self._train_and_save(data, publish=publish)
        if publish:
            with self._lock:
                self._install(model)
        return model.version

    def set_faq_topics(self, topics: Iterable[FAQTopic | Mapping[str, Any]]) -> None:
        """Replace the FAQ topics (admin edit); takes effect for the next parse."""
        new = tuple(t if isinstance(t, FAQTopic) else FAQTopic.from_dict(t) for t in topics)
        with self._lock:
            runtime = self._runtime
            if runtime is None:
                self._topics = new
            else:
                self._install(runtime.model, new)
