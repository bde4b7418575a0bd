"""Evaluation of the NLU: k-fold cross-validation and labelled TSV sets, as Markdown + PNG.

Both evaluations run the *whole* parse pipeline (classifier, out-of-scope fallback, FAQ
fusion) and score the final ``intent.name``, i.e. what the bot would act on.

* :func:`cross_validate` — stratified k-fold over the training data: each fold trains a
  fresh model on the other folds (deterministic seeds) and predicts its held-out part.
* :func:`evaluate_tsv` — a labelled file, one ``label<TAB>text`` per line (``#`` comments
  and blank lines skipped), parsed by a given parse function (e.g. ``NLUService.parse``).

:func:`write_report` writes ``report.md`` (accuracy, macro-F1, per-intent P/R/F1, most
confused pairs, calibration, the errors), ``confusion.png`` and ``reliability.png``
(matplotlib, Agg backend; axis labels are the ASCII intent ids, since CJK glyphs are often
missing from the available fonts).

Calibration: a confidence of 0.8 should be right about 80 % of the time, or the thresholds
of the dialogue policy (act at 0.45, interrupt a form at 0.7) do not mean what they say.
:func:`calibration` bins the final confidences and compares each bin's mean confidence
with its accuracy (the reliability diagram) and sums the gaps, weighted by bin size, into
the expected calibration error (ECE).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from nlu.faq_retrieval import FAQRetriever, FAQTopic
from nlu.model import IntentModel, ModelConfig, train_model
from nlu.parser import ParserConfig, build_result, faq_examples
from nlu.training_data import TrainingData

__all__ = [
    "CalibrationBin",
    "EvaluationResult",
    "IntentMetrics",
    "calibration",
    "cross_validate",
    "evaluate_model",
    "evaluate_predictions",
    "evaluate_tsv",
    "expected_calibration_error",
    "plot_reliability",
    "read_labelled_tsv",
    "write_report",
]

log = logging.getLogger(__name__)

ParseFn = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class IntentMetrics:
    """Precision, recall, F1 and support of one intent."""

    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(slots=True)
class EvaluationResult:
    """Gold labels, predictions and the metrics derived from them."""

    name: str
    texts: list[str]
    y_true: list[str]
    y_pred: list[str]
    confidences: list[float]
    accuracy: float
    macro_f1: float
    per_intent: list[IntentMetrics]
    confused_pairs: list[tuple[str, str, int]]
    labels: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def zero_recall(self) -> list[str]:
        """Gold intents of which not a single message was recognised."""
        return [m.intent for m in self.per_intent if m.support and m.recall == 0.0]

    def errors(self) -> list[tuple[str, str, str, float]]:
        """``(text, gold, predicted, confidence)`` of each misclassified message."""
        return [
            (t, g, p, c)
            for t, g, p, c in zip(
                self.texts, self.y_true, self.y_pred, self.confidences, strict=True
            )
            if g != p
        ]

    def share_predicted(self, intent: str) -> float:
        """Share of all messages predicted as ``intent`` (e.g. how many went out of scope)."""
        return self.y_pred.count(intent) / len(self.y_pred) if self.y_pred else 0.0

    def precision_of(self, intent: str) -> float | None:
        """Precision of ``intent`` as a prediction, gold intent or not (``None``: never
        predicted); also defined when no gold message has it."""
        predicted = [g for g, p in zip(self.y_true, self.y_pred, strict=True) if p == intent]
        return predicted.count(intent) / len(predicted) if predicted else None

    def summary(self) -> str:
        """One line: name, accuracy, macro-F1, calibration error, zero-recall intents."""
        zero = ", ".join(self.zero_recall) or "none"
        ece = expected_calibration_error(calibration(self))
        return (
            f"{self.name}: n={len(self.y_true)} accuracy={self.accuracy:.4f} "
            f"macro-F1={self.macro_f1:.4f} ECE={ece:.4f} zero-recall intents: {zero}"
        )


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """Messages whose final confidence fell in ``[low, high)`` and how often they were right."""

    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: float


def calibration(result: EvaluationResult, bins: int = 10) -> list[CalibrationBin]:
    """Equal-width confidence bins over [0, 1] (the last one includes 1.0); empty bins are
    returned too (count 0), so every diagram has the same x axis."""
    conf = np.clip(np.asarray(result.confidences, dtype=np.float64), 0.0, 1.0)
    right = np.asarray(
        [g == p for g, p in zip(result.y_true, result.y_pred, strict=True)], dtype=np.float64
    )
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    out: list[CalibrationBin] = []
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        out.append(
            CalibrationBin(
                low=b / bins,
                high=(b + 1) / bins,
                count=n,
                mean_confidence=float(conf[mask].mean()) if n else 0.0,
                accuracy=float(right[mask].mean()) if n else 0.0,
            )
        )
    return out


def expected_calibration_error(bins: Sequence[CalibrationBin]) -> float:
    """Size-weighted mean gap between confidence and accuracy over the bins."""
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return sum(b.count * abs(b.mean_confidence - b.accuracy) for b in bins) / total


def evaluate_predictions(
    name: str,
    texts: Sequence[str],
    y_true: Sequence[str],
    y_pred: Sequence[str],
    confidences: Sequence[float] | None = None,
    info: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Compute the metrics. Macro-F1 averages over the *gold* intents only."""
    if len(y_true) != len(y_pred) or len(texts) != len(y_true):
        raise ValueError("texts, y_true and y_pred must have the same length")
    gold = sorted(set(y_true))
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        list(y_true), list(y_pred), labels=gold, zero_division=0
    )
    per_intent = [
        IntentMetrics(name_, float(p), float(r), float(f), int(s))
        for name_, p, r, f, s in zip(gold, precision, recall, f1, support, strict=True)
    ]
    pairs = Counter((g, p) for g, p in zip(y_true, y_pred, strict=True) if g != p)
    confused = sorted(((g, p, n) for (g, p), n in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))
    correct = sum(1 for g, p in zip(y_true, y_pred, strict=True) if g == p)
    return EvaluationResult(
        name=name,
        texts=list(texts),
        y_true=list(y_true),
        y_pred=list(y_pred),
        confidences=list(confidences) if confidences is not None else [0.0] * len(y_true),
        accuracy=correct / len(y_true) if y_true else 0.0,
        macro_f1=float(np.mean(f1)) if len(gold) else 0.0,
        per_intent=per_intent,
        confused_pairs=confused,
        labels=labels,
        info=dict(info or {}),
    )


def read_labelled_tsv(path: str | Path) -> list[tuple[str, str]]:
    """``(label, text)`` pairs of a ``label<TAB>text`` file."""
    rows: list[tuple[str, str]] = []
    with Path(path).open(encoding="utf-8", newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            label, sep, text = line.partition("\t")
            if not sep or not label.strip() or not text.strip():
                raise ValueError(f"{path}:{lineno}: expected 'label<TAB>text'")
            rows.append((label.strip(), text.strip()))
    return rows


def evaluate_tsv(
    parse: ParseFn, path: str | Path, *, info: Mapping[str, Any] | None = None
) -> EvaluationResult:
    """Parse every message of a labelled TSV and score the predicted intents."""
    rows = read_labelled_tsv(path)
    texts = [t for _, t in rows]
    gold = [label for label, _ in rows]
    results = [parse(t) for t in texts]
    pred = [str(r["intent"]["name"]) for r in results]
    conf = [float(r["intent"]["confidence"]) for r in results]
    return evaluate_predictions(Path(path).name, texts, gold, pred, conf, info)


def cross_validate(
    data: TrainingData,
    *,
    folds: int = 5,
    config: ModelConfig | None = None,
    parser_config: ParserConfig | None = None,
    topics: Iterable[FAQTopic] = (),
    seed: int = 7,
) -> EvaluationResult:
    """Stratified k-fold cross-validation of the full pipeline on ``data``."""
    config = config or ModelConfig()
    parser_config = parser_config or ParserConfig()
    topic_list = list(topics)
    y = [ex.intent for ex in data.examples]
    smallest = min(Counter(y).values())
    if folds < 2 or folds > smallest:
        raise ValueError(
            f"folds must be in [2, {smallest}] (smallest intent has {smallest} examples)"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    texts: list[str] = [""] * len(y)
    pred: list[str] = [""] * len(y)
    conf: list[float] = [0.0] * len(y)
    started = time.perf_counter()
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(y)), y), 1):
        model = train_model(data.filter(train_idx.tolist()), config)
        retriever = FAQRetriever(topic_list, faq_examples(model))
        for i in test_idx.tolist():
            text = data.examples[i].text
            result = build_result(text, model, retriever, parser_config, [])
            texts[i] = text
            pred[i] = str(result["intent"]["name"])
            conf[i] = float(result["intent"]["confidence"])
        log.info("fold %d/%d done", fold, folds)
    info = {"folds": folds, "seconds": round(time.perf_counter() - started, 1)}
    return evaluate_predictions(f"{folds}-fold cross-validation", texts, y, pred, conf, info)


# --------------------------------------------------------------------------- reports


def _markdown(
    result: EvaluationResult,
    png_name: str | None,
    top_pairs: int,
    max_errors: int,
    reliability_png: str | None = None,
) -> str:
    lines = [f"## {result.name}", ""]
    for key, value in result.info.items():
        lines.append(f"- {key}: {value}")
    lines += [
        f"- messages: {len(result.y_true)}",
        f"- **accuracy: {result.accuracy:.4f}**",
        f"- **macro-F1: {result.macro_f1:.4f}**",
        f"- intents with recall 0: {', '.join(result.zero_recall) or 'none'}",
        "",
    ]
    oos_precision = result.precision_of("out_of_scope")
    weakest = min(result.per_intent, key=lambda m: (m.recall, m.intent), default=None)
    lines[-1:-1] = [
        f"- predicted out_of_scope: {result.share_predicted('out_of_scope'):.1%} of messages"
        + (f", precision {oos_precision:.3f}" if oos_precision is not None else ""),
        f"- lowest recall: {weakest.intent} {weakest.recall:.3f}" if weakest else "",
    ]
    if png_name:
        lines += [f"![confusion matrix]({png_name})", ""]
    bins = calibration(result)
    lines += [
        "### Calibration",
        "",
        f"Expected calibration error: {expected_calibration_error(bins):.4f}",
        "",
    ]
    if reliability_png:
        lines += [f"![reliability diagram]({reliability_png})", ""]
    lines += [
        "| confidence | messages | mean confidence | accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    for b in bins:
        if b.count:
            lines.append(
                f"| {b.low:.1f}–{b.high:.1f} | {b.count} | {b.mean_confidence:.3f} "
                f"| {b.accuracy:.3f} |"
            )
    lines += [
        "",
        "### Most confused pairs",
        "",
        "| gold | predicted | count |",
        "| --- | --- | ---: |",
    ]
    for gold, predicted, count in result.confused_pairs[:top_pairs]:
        lines.append(f"| {gold} | {predicted} | {count} |")
    if not result.confused_pairs:
        lines.append("| – | – | 0 |")
    lines += [
        "",
        "### Per intent",
        "",
        "| intent | precision | recall | F1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for m in sorted(result.per_intent, key=lambda m: (m.f1, m.intent)):
        lines.append(
            f"| {m.intent} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} | {m.support} |"
        )
    errors = result.errors()
    lines += [
        "",
        f"### Errors ({len(errors)})",
        "",
        "| gold | predicted | conf | text |",
        "| --- | --- | ---: | --- |",
    ]
    for text, gold, predicted, c in errors[:max_errors]:
        safe = text.replace("|", "\\|")
        lines.append(f"| {gold} | {predicted} | {c:.2f} | {safe} |")
    if len(errors) > max_errors:
        lines.append(f"| … | … | … | {len(errors) - max_errors} more |")
    return "\n".join(lines) + "\n"


def _pyplot(figure: str) -> Any | None:
    """matplotlib's pyplot, headless (no display on servers or CI), imported on first use;
    ``None`` (and a warning that ``figure`` is skipped) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; %s skipped", figure)
        return None
    return plt


@contextmanager
def _figure(plt: Any, path: str | Path, *grid: int, **options: Any) -> Iterator[Any]:
    """The axes of ``plt.subplots(*grid, **options)`` to draw on in the ``with``; then the
    figure is laid out, written to ``path`` and closed (closed also when drawing fails)."""
    fig, axes = plt.subplots(*grid, **options)
    try:
        yield axes
        fig.tight_layout()
        fig.savefig(Path(path))
    finally:
        plt.close(fig)


def plot_confusion(result: EvaluationResult, path: str | Path) -> Path | None:
    """Write a confusion-matrix PNG; ``None`` (and a warning) if matplotlib is missing."""
    plt = _pyplot("confusion matrix PNG")
    if plt is None:
        return None
    labels = result.labels
    matrix = confusion_matrix(result.y_true, result.y_pred, labels=labels)
    row_sums = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(
        matrix, row_sums, out=np.zeros(matrix.shape, dtype=float), where=row_sums > 0
    )
    size = max(6.0, 0.22 * len(labels) + 3)
    with _figure(plt, path, figsize=(size, size), dpi=110) as ax:
        ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(labels)))
        ax.set_yticks(range(len(labels)))
        fontsize = 8 if len(labels) <= 30 else 6
        ax.set_xticklabels(labels, rotation=90, fontsize=fontsize)
        ax.set_yticklabels(labels, fontsize=fontsize)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(
            f"{result.name}: accuracy {result.accuracy:.3f}, macro-F1 {result.macro_f1:.3f}"
        )
        for i, j in zip(*np.nonzero(matrix), strict=True):
            color = "white" if shares[i, j] > 0.5 else ("black" if i == j else "crimson")
            ax.text(
                j, i, str(matrix[i, j]), ha="center", va="center", fontsize=fontsize, color=color
            )
    return Path(path)


def plot_reliability(result: EvaluationResult, path: str | Path) -> Path | None:
    """Write a reliability diagram PNG (accuracy against confidence per bin, with the
    diagonal of perfect calibration and the bin sizes); ``None`` without matplotlib."""
    plt = _pyplot("reliability diagram")
    if plt is None:
        return None
    bins = calibration(result)
    ece = expected_calibration_error(bins)
    options: dict[str, Any] = {"gridspec_kw": {"height_ratios": [3, 1]}, "sharex": True}
    with _figure(plt, path, 2, 1, figsize=(5.5, 6.5), dpi=110, **options) as (top, bottom):
        width = bins[0].high - bins[0].low
        lefts = [b.low for b in bins]
        top.bar(
            lefts,
            [b.accuracy for b in bins],
            width=width,
            align="edge",
            edgecolor="navy",
            color="#7aa6d8",
            label="accuracy",
        )
        top.bar(
            lefts,
            [b.mean_confidence - b.accuracy if b.count else 0.0 for b in bins],
            bottom=[b.accuracy for b in bins],
            width=width,
            align="edge",
            color="none",
            edgecolor="crimson",
            hatch="//",
            label="gap to confidence",
        )
        top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.set_title(f"{result.name}: ECE {ece:.3f}")
        top.legend(loc="upper left", fontsize=8)
        bottom.bar(lefts, [b.count for b in bins], width=width, align="edge", color="grey")
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("confidence")
        bottom.set_ylabel("messages")
    return Path(path)


def write_report(
    results: Sequence[EvaluationResult],
    out_dir: str | Path,
    *,
    title: str = "NLU evaluation",
    top_pairs: int = 15,
    max_errors: int = 200,
) -> dict[str, Path]:
    """Write ``report.md`` and two PNGs per result (``confusion.png`` and
    ``reliability.png`` for the first, ``confusion-2.png``/``reliability-2.png`` … for the
    others); return the written paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    sections: list[str] = []
    for n, result in enumerate(results, 1):
        suffix = "" if n == 1 else f"-{n}"
        png_name = f"confusion{suffix}.png"
        png = plot_confusion(result, out / png_name)
        if png is not None:
            written[png_name] = png
        rel_name = f"reliability{suffix}.png"
        rel = plot_reliability(result, out / rel_name)
        if rel is not None:
            written[rel_name] = rel
        sections.append(
            _markdown(
                result,
                png_name if png else None,
                top_pairs,
                max_errors,
                rel_name if rel else None,
            )
        )
    report = out / "report.md"
    report.write_text(f"# {title}\n\n" + "\n".join(sections), encoding="utf-8")
    written["report.md"] = report
    return written


def evaluate_model(
    name: str,
    model: IntentModel,
    rows: Sequence[tuple[str, str]],
    *,
    topics: Iterable[FAQTopic] = (),
    parser_config: ParserConfig | None = None,
    info: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Score ``model`` (the whole parse pipeline, with FAQ fusion over ``topics``) on
    labelled ``(label, text)`` rows — e.g. a candidate and the running model on one set."""
    parser_config = parser_config or ParserConfig()
    retriever = FAQRetriever(list(topics), faq_examples(model))
    texts = [text for _, text in rows]
    gold = [label for label, _ in rows]
    results = [build_result(text, model, retriever, parser_config, []) for text in texts]
    pred = [str(r["intent"]["name"]) for r in results]
    conf = [float(r["intent"]["confidence"]) for r in results]
    return evaluate_predictions(name, texts, gold, pred, conf, info)
