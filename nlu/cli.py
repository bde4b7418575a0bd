"""Entry points behind ``intake nlu train|evaluate|parse``.

``bot.cli`` owns the argparse wiring; it can reuse :func:`add_train_arguments` &c. to get
the options below, then call the ``*_main`` function with the parsed namespace. Each
returns a process exit code. ``python -m nlu.cli ...`` runs the same commands standalone.

* ``train``: ``--data PATH`` (repeatable), ``--model-dir DIR``, ``--no-publish``
* ``evaluate``: ``--folds K``, ``--tsv PATH``, ``--out DIR``, ``--data``, ``--model-dir``
* ``parse``: ``--model-dir``, ``--data``; stdin → stdout, one JSON object per line
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from nlu.evaluation import EvaluationResult, cross_validate, evaluate_tsv, write_report
from nlu.faq_retrieval import DEFAULT_KB_PATH, load_knowledge_base
from nlu.model import (
    DEFAULT_MODEL_DIR,
    ModelConfig,
    load_model,
    model_version,
    save_model,
    train_model,
)
from nlu.parser import NLUService
from nlu.training_data import DEFAULT_DATA_DIR, load_training_data

__all__ = [
    "add_evaluate_arguments",
    "add_parse_arguments",
    "add_train_arguments",
    "evaluate_main",
    "main",
    "parse_main",
    "train_main",
]

DEFAULT_REPORT_DIR = Path("reports/nlu")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="PATH",
        help=f"Rasa NLU YAML file or directory (repeatable; default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--model-dir",
        default=None,
        metavar="DIR",
        help=f"model artifact directory (default {DEFAULT_MODEL_DIR})",
    )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``intake nlu train``."""
    _common(parser)
    parser.add_argument(
        "--no-publish", action="store_true", help="save the artifact but do not mark it LATEST"
    )


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``intake nlu evaluate``."""
    _common(parser)
    parser.add_argument(
        "--folds", type=int, default=None, metavar="K", help="k-fold cross-validation"
    )
    parser.add_argument(
        "--tsv",
        action="append",
        default=None,
        metavar="PATH",
        help="labelled file: label<TAB>text (repeatable)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"report directory (default {DEFAULT_REPORT_DIR})",
    )


def add_parse_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``intake nlu parse``."""
    _common(parser)


def _data_paths(args: argparse.Namespace) -> list[str | Path]:
    data = getattr(args, "data", None)
    return list(data) if data else [DEFAULT_DATA_DIR]


def _model_dir(args: argparse.Namespace | None) -> Path:
    value = getattr(args, "model_dir", None) if args is not None else None
    return Path(value) if value else DEFAULT_MODEL_DIR


def train_main(args: argparse.Namespace) -> int:
    """Train on the data, write the artifact, print version and training time."""
    started = time.perf_counter()
    data = load_training_data(_data_paths(args))
    model = train_model(data, ModelConfig())
    path = save_model(model, _model_dir(args), publish=not getattr(args, "no_publish", False))
    elapsed = time.perf_counter() - started
    meta = model.metadata
    print(f"version: {model.version}")
    print(f"training time: {meta['training_seconds']:.2f}s (total with loading {elapsed:.2f}s)")
    print(
        f"examples: {meta['n_examples']}, intents: {meta['n_intents']}, "
        f"features: {meta['features']}"
    )
    oof = meta["oof_accuracy"]
    print(
        f"out-of-fold accuracy: {'n/a' if oof is None else f'{oof:.4f}'}, "
        f"temperature: {meta['temperature']:.4f}, knn weight: {meta['knn_weight']}"
    )
    print(f"artifact: {path}")
    return 0


def evaluate_main(args: argparse.Namespace) -> int:
    """Cross-validate and/or evaluate on a TSV; print summaries; write report.md + PNG."""
    folds: int | None = getattr(args, "folds", None)
    tsvs: list[str] = list(getattr(args, "tsv", None) or [])
    if folds is None and not tsvs:
        folds = 5
    results: list[EvaluationResult] = []
    topics = load_knowledge_base(DEFAULT_KB_PATH) if DEFAULT_KB_PATH.is_file() else []
    data = load_training_data(_data_paths(args))
    if tsvs:
        # Evaluate the model of the *current* training data: the artifact of that version if
        # one was saved, else a fresh one (saved unpublished, so the next run reuses it).
        config = ModelConfig()
        model_dir = _model_dir(args)
        cached = model_dir / model_version(data, config)
        if (cached / "model.pkl").is_file():
            model = load_model(cached)
        else:
            model = train_model(data, config)
            save_model(model, model_dir, publish=False)
        service = NLUService(model_dir, training_data=_data_paths(args))
        service.use_model(model)
        info: dict[str, Any] = {
            "model version": model.version,
            "threshold": model.threshold,
            "training examples": len(data.examples),
        }
        results.extend(evaluate_tsv(service.parse, tsv, info=info) for tsv in tsvs)
    if folds is not None:
        results.append(cross_validate(data, folds=folds, topics=topics))
    for result in results:
        print(result.summary())
        weakest = sorted(result.per_intent, key=lambda m: (m.recall, m.intent))[:3]
        print(
            f"  out_of_scope: {result.share_predicted('out_of_scope'):.1%} of messages; "
            "lowest recall: " + ", ".join(f"{m.intent} {m.recall:.2f}" for m in weakest)
        )
        for gold, predicted, count in result.confused_pairs[:5]:
            print(f"  confused: {gold} -> {predicted} ({count})")
    out = Path(getattr(args, "out", None) or DEFAULT_REPORT_DIR)
    written = write_report(results, out)
    for name in sorted(written):
        print(f"wrote {written[name]}")
    return 0


def parse_main(stdin: TextIO, stdout: TextIO, args: argparse.Namespace | None = None) -> int:
    """One message per stdin line → one JSON object per stdout line (flushed per line)."""
    data = _data_paths(args) if args is not None else [DEFAULT_DATA_DIR]
    service = NLUService(_model_dir(args), training_data=data)
    for line in stdin:
        text = line.rstrip("\r\n")
        stdout.write(json.dumps(service.parse(text), ensure_ascii=False) + "\n")
        # Flushed per line so a caller can pipe messages in and read answers interactively.
        stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nlu.cli train|evaluate|parse [options]``."""
    parser = argparse.ArgumentParser(prog="python -m nlu.cli", description="intake NLU tools")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="train and save a model"))
    add_evaluate_arguments(sub.add_parser("evaluate", help="cross-validate / evaluate on a TSV"))
    add_parse_arguments(sub.add_parser("parse", help="parse stdin lines to JSON lines"))
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_main(args)
    if args.command == "evaluate":
        return evaluate_main(args)
    return parse_main(sys.stdin, sys.stdout, args)


if __name__ == "__main__":
    raise SystemExit(main())
