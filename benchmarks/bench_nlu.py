"""Benchmark of the intent classifier against a nearest-example baseline.

Both are trained on the same training data in the same run, then:

* training time (wall clock, including text preparation);
* parse latency, one message at a time, warm (after a full warm-up pass), on one core
  (CPU affinity pinned to one CPU, BLAS/OpenMP limited to one thread): p50 / p99 / max
  over ``--rounds`` passes over the dev messages;
* accuracy and macro-F1 on the dev TSV (never trained on).

"ours (full parse)" is ``NLUService.parse``'s path: classifier + out-of-scope fallback +
FAQ fusion + entity extraction. "baseline" predicts the intent of the single most similar
training example (rapidfuzz ``ratio`` on the same normalised text).

Training and accuracy are deterministic and measured once; the latencies are measured in
``--runs`` runs (three by default) and printed as median and spread with the load average
around each run and the commit (``benchmarks/repeat.py``).

Usage: ``.venv/bin/python benchmarks/bench_nlu.py [--tsv PATH] [--rounds N] [--runs 3]``
"""

from __future__ import annotations

import os

# Before numpy is imported: one thread for BLAS/OpenMP, as on a single-core worker.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from nlu.entities import extract_entities  # noqa: E402
from nlu.evaluation import evaluate_predictions, read_labelled_tsv  # noqa: E402
from nlu.faq_retrieval import DEFAULT_KB_PATH, FAQRetriever, load_knowledge_base  # noqa: E402
from nlu.features import get_tokenizer, prepare  # noqa: E402
from nlu.model import ModelConfig, NearestExamples, train_model  # noqa: E402
from nlu.parser import ParserConfig, build_result, faq_examples  # noqa: E402
from nlu.training_data import DEFAULT_DATA_DIR, load_training_data  # noqa: E402

DEFAULT_TSV = ROOT.parent / "shared" / "eval" / "dev_intents.tsv"


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def _latency(
    fn: Callable[[str], object], texts: Sequence[str], rounds: int
) -> tuple[float, float, float]:
    """p50, p99, max in milliseconds of single calls, after one warm-up pass."""
    for text in texts:
        fn(text)
    samples: list[float] = []
    gc.collect()
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter_ns()
            fn(text)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    arr = np.asarray(samples)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.max())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="latency runs (median, spread)")
    args = parser.parse_args(argv)

    pinning = _pin_one_core()
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(1)
    except ImportError:  # threadpoolctl comes with scikit-learn; be lenient anyway
        pass

    get_tokenizer()  # jieba start-up is a one-off per process, not training time
    data = load_training_data(args.data)
    rows = read_labelled_tsv(args.tsv)
    texts = [t for _, t in rows]
    gold = [label for label, _ in rows]
    topics = load_knowledge_base(DEFAULT_KB_PATH) if DEFAULT_KB_PATH.is_file() else []

    # -- ours
    t0 = time.perf_counter()
    model = train_model(data, ModelConfig())
    train_ours = time.perf_counter() - t0
    retriever = FAQRetriever(topics, faq_examples(model))
    pconf = ParserConfig()

    def parse_full(text: str) -> dict[str, object]:
        ents = [e.as_dict() for e in extract_entities(text)]
        return build_result(text, model, retriever, pconf, ents)

    def classify_only(text: str) -> str:
        return model.predict(text).intent

    # -- baseline
    t0 = time.perf_counter()
    intents = data.intents
    index = {n: i for i, n in enumerate(intents)}
    knn = NearestExamples(
        [prepare(ex.text).compact for ex in data.examples],
        [index[ex.intent] for ex in data.examples],
        len(intents),
    )
    train_base = time.perf_counter() - t0

    def baseline(text: str) -> str:
        label, _score = knn.nearest(prepare(text).compact)
        return intents[label]

    pred_ours = [str(parse_full(t)["intent"]["name"]) for t in texts]  # type: ignore[index]
    pred_base = [baseline(t) for t in texts]
    ev_ours = evaluate_predictions("ours", texts, gold, pred_ours)
    ev_base = evaluate_predictions("baseline", texts, gold, pred_base)

    from benchmarks.repeat import Metric, Runs

    runs = Runs("bench_nlu latency", args.runs, settings=f"{len(texts)} messages x {args.rounds}")
    quantiles = ("p50", "p99", "max")
    timed = (("full", parse_full), ("classifier", classify_only), ("baseline", baseline))
    for _ in runs:
        runs.record(
            {
                name: dict(zip(quantiles, _latency(fn, texts, args.rounds), strict=True))
                for name, fn in timed
            }
        )
    metrics = [
        Metric(f"{name}.{q}", f"{label} {q}", "ms", digits=3)
        for name, label in (
            ("full", "full parse"),
            ("classifier", "classifier only"),
            ("baseline", "baseline"),
        )
        for q in ("p50", "p99", "max")
    ]
    runs.report(metrics)
    summary = runs.summary(metrics)

    def median(name: str) -> tuple[float, float, float]:
        return (
            summary[f"{name}.p50"]["median"],
            summary[f"{name}.p99"]["median"],
            summary[f"{name}.max"]["median"],
        )

    lat_full, lat_clf, lat_base = median("full"), median("classifier"), median("baseline")

    print(f"training data: {len(data.examples)} examples, {len(intents)} intents")
    print(f"dev set: {args.tsv} ({len(texts)} messages)")
    print(
        f"latency: single message at a time, warm, {args.rounds} rounds, {pinning}; "
        f"medians of {args.runs} runs"
    )
    print()
    columns = ("train s", "p50 ms", "p99 ms", "max ms", "dev acc", "macro-F1")
    header = f"{'model':<26}" + "".join(f"{c:>10}" for c in columns)
    print(header)
    print("-" * len(header))
    rows_out = [
        ("ours (full parse)", train_ours, lat_full, ev_ours),
        ("ours (classifier only)", train_ours, lat_clf, ev_ours),
        ("baseline (nearest ex.)", train_base, lat_base, ev_base),
    ]
    for name, train_s, (p50, p99, mx), ev in rows_out:
        cells = [f"{train_s:.2f}", f"{p50:.3f}", f"{p99:.3f}", f"{mx:.3f}"]
        cells += [f"{ev.accuracy:.3f}", f"{ev.macro_f1:.3f}"]
        print(f"{name:<26}" + "".join(f"{c:>10}" for c in cells))
    print()
    print(f"ours: zero-recall intents on dev: {', '.join(ev_ours.zero_recall) or 'none'}")
    print(f"baseline: zero-recall intents on dev: {', '.join(ev_base.zero_recall) or 'none'}")
    print(f"model version {model.version}, temperature {model.temperature:.3f}")
    print(f"knn weight {model.knn_weight}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
