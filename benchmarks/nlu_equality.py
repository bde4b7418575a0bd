"""Same answers, less CPU: the parse results of a large corpus, recorded and compared, and
the per-parse CPU time of ``NLUService.parse``.

The corpus is every text of the training files (``nlu/data/nlu``), every title and question
of the FAQ knowledge base, the texts the load generator's scenarios send
(``benchmarks/scenarios.py``) and the dev set's texts (``../shared/eval/dev_intents.tsv``,
only parsed, never trained on), plus a few edge cases (empty, emoji, mash, traditional).

The model is trained once on the training files into ``--model-dir`` and loaded from there
by every later run, so a recording made before a change and a check made after it see the
same artifact::

    .venv/bin/python benchmarks/nlu_equality.py record /tmp/nlu-eq/before.jsonl
    .venv/bin/python benchmarks/nlu_equality.py compare /tmp/nlu-eq/before.jsonl
    .venv/bin/python benchmarks/nlu_equality.py bench

``compare`` reports every text whose parse differs (floats compared exactly; differences
within 1e-9 are listed apart). ``bench`` times ``parse`` with ``time.process_time`` over
``--calls`` calls per set of texts, three runs, and prints the median per call.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scenarios import KINDS, build_scenario  # noqa: E402
from nlu.evaluation import read_labelled_tsv  # noqa: E402
from nlu.faq_retrieval import DEFAULT_KB_PATH, load_knowledge_base  # noqa: E402
from nlu.features import prepare  # noqa: E402
from nlu.parser import NLUService  # noqa: E402
from nlu.training_data import DEFAULT_DATA_DIR, load_training_data  # noqa: E402

DEV_TSV = ROOT.parent / "shared" / "eval" / "dev_intents.tsv"
EDGE_CASES = (
    "",
    " ",
    "。。。",
    "😀😀",
    "[捂脸]",
    "asdfghjkl",
    "qwe rty 123",
    "謝謝你們，效率真高",
    "你好",
    "谢谢",
    "好的",
    "不是",
    "1",
    "第二个",
    "醫保電子憑證怎麼激活？？？",
    "Ｈｅｌｌｏ ｗｏｒｌｄ",
    "مرحبا كيف حالك",
)


def scenario_texts(residents: int = 400) -> list[str]:
    rng = random.Random(16)
    out: list[str] = []
    for n in range(residents):
        scenario = build_scenario(KINDS[n % len(KINDS)], rng, n)
        out.extend(step.content for step in scenario.steps if step.kind != "click")
    return list(dict.fromkeys(out))


def corpus() -> dict[str, list[str]]:
    data = load_training_data(DEFAULT_DATA_DIR)
    kb = load_knowledge_base(DEFAULT_KB_PATH)
    return {
        "training": [ex.text for ex in data.examples],
        "kb": [q for t in kb for q in (t.title, *t.questions)],
        "scenarios": scenario_texts(),
        "dev": [text for _label, text in read_labelled_tsv(DEV_TSV)] if DEV_TSV.is_file() else [],
        "edge": list(EDGE_CASES),
    }


def service(model_dir: Path) -> NLUService:
    nlu = NLUService(model_dir)
    nlu.warm_up()
    return nlu


def internals(nlu: NLUService, text: str) -> dict[str, Any]:
    """What the parse is made of, for every text (the parse itself retrieves only for FAQ
    and out-of-scope messages): the topic scores, the probabilities, the prediction."""
    prepared = prepare(text)
    probs, coverage = nlu.model.probabilities(prepared)
    pred = nlu.model.predict(prepared)
    return {
        "topic_scores": nlu.faq.topic_scores(prepared).tolist(),
        "probs": probs.tolist(),
        "coverage": coverage,
        "predict": [pred.intent, pred.confidence, pred.ranking, pred.fallback, pred.predicted],
    }


def record(nlu: NLUService, out: Path) -> int:
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for source, texts in corpus().items():
            for text in texts:
                rec = {"source": source, "parse": nlu.parse(text), **internals(nlu, text)}
                fh.write(json.dumps(rec, ensure_ascii=False))
                fh.write("\n")
                n += 1
    return n


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def compare(nlu: NLUService, before: Path) -> int:
    exact = within = differ = inner_differ = 0
    for line in before.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        old = rec["parse"]
        new = json.loads(json.dumps(nlu.parse(old["text"]), ensure_ascii=False))
        if "topic_scores" in rec:
            inner = json.loads(json.dumps(internals(nlu, old["text"]), ensure_ascii=False))
            for key, value in inner.items():
                if value != rec[key]:
                    inner_differ += 1
                    print(f"internal {key} differs:", old["text"])
        if new == old:
            exact += 1
        elif _close(new, old, 1e-9):
            within += 1
            print("within 1e-9:", old["text"])
        else:
            differ += 1
            print("DIFFERS:", rec["source"], json.dumps(old, ensure_ascii=False))
            print("      now:", json.dumps(new, ensure_ascii=False))
    print(
        f"{exact + within + differ} texts: {exact} identical, {within} within 1e-9, "
        f"{differ} differ; internals (topic scores, probabilities, prediction): "
        f"{inner_differ} differences"
    )
    return 1 if differ or inner_differ else 0


def bench(nlu: NLUService, calls: int, runs: int, sets: Sequence[str]) -> None:
    texts = corpus()
    texts["resident"] = texts["scenarios"] + texts["dev"]
    for name in sets:
        sample = texts[name]
        for text in sample:
            nlu.parse(text)
        per_call: list[float] = []
        for _ in range(runs):
            t0 = time.process_time()
            for i in range(calls):
                nlu.parse(sample[i % len(sample)])
            per_call.append((time.process_time() - t0) / calls * 1000)
        spread = ", ".join(f"{v:.3f}" for v in per_call)
        print(
            f"{name:10s} {len(sample):5d} texts, {calls} calls × {runs}: "
            f"median {statistics.median(per_call):.3f} ms/parse CPU ({spread}; "
            f"min {min(per_call):.3f})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=("record", "compare", "bench"))
    parser.add_argument("path", type=Path, nargs="?")
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/nlu-eq/models"))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sets", default="resident,dev,scenarios,training")
    args = parser.parse_args(argv)
    nlu = service(args.model_dir)
    if args.command == "record":
        assert args.path is not None
        print(record(nlu, args.path), "texts recorded with model", nlu.version)
        return 0
    if args.command == "compare":
        assert args.path is not None
        return compare(nlu, args.path)
    bench(nlu, args.calls, args.runs, args.sets.split(","))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
