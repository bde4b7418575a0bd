"""What the same work costs when the process sleeps between messages, as it does at 100 msg/s.

At 100 msg/s one app process gets a message about every 10 ms and is done with it in a
few: between two messages it sleeps, and the machine gives its CPU, caches and branch
history to others in the meantime. Each message then starts cold. ``load_conversations``
measures CPU per message in exactly that regime, so its figure holds the cost of waking up
as well as the cost of the code.

This prints, in one process and on the same texts (the messages of the load benchmark's
mixed conversations), the CPU time of one full NLU parse (``NLUService.parse``: the largest
stage of a message) called back to back, and with 1 ms and 10 ms of sleep before each
call. Only the calls are timed (``time.process_time`` around each), never the sleep. The
ratio "10 ms / back to back" is what a 100 msg/s run pays on this machine for the same
code; the app cannot change it, only do less per message.

Three runs by default; medians and spread, load average and commit (``benchmarks/repeat.py``).

    .venv/bin/python benchmarks/bench_idle_gap.py [--calls 600] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.host import cpu_ms_per_call  # noqa: E402
from benchmarks.repeat import Metric, Runs  # noqa: E402
from benchmarks.scenarios import MIXES, assign_kinds, build_scenario  # noqa: E402

#: sleep before each call, in seconds: none, the spacing of 1,000 msg/s, of 100 msg/s
GAPS = {"back_to_back": 0.0, "gap_1ms": 0.001, "gap_10ms": 0.010}


def resident_texts(count: int, seed: int = 7) -> list[str]:
    """The text messages of ``count`` mixed conversations (menu clicks left out)."""
    rng = random.Random(seed)
    kinds = assign_kinds(count, MIXES["mixed"], rng)
    return [
        step.content
        for n, kind in enumerate(kinds)
        for step in build_scenario(kind, rng, n).steps
        if step.kind == "text"
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=600, help="parses per gap and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, help="a trained model (default: train one)")
    args = parser.parse_args(argv)

    from nlu.parser import NLUService

    texts = resident_texts(400)
    texts = (texts * (args.calls // len(texts) + 1))[: args.calls]
    with tempfile.TemporaryDirectory(prefix="intake-gap-") as tmp:
        nlu = NLUService(args.model_dir or Path(tmp) / "models")
        for text in texts:  # warm: model, jieba, the FAQ index
            nlu.parse(text)
        runs = Runs(
            "bench_idle_gap", args.runs, settings=f"{args.calls} parses of resident messages a gap"
        )
        for index, _ in enumerate(runs):
            # every other run the other order: neither gap always runs on a warmer machine
            order = list(GAPS) if index % 2 == 0 else list(GAPS)[::-1]
            figures = {name: cpu_ms_per_call(nlu.parse, texts, GAPS[name]) for name in order}
            figures["ratio"] = figures["gap_10ms"] / figures["back_to_back"]
            print("   " + "  ".join(f"{name} {figures[name]:.3f}" for name in GAPS), flush=True)
            runs.record(figures)
    runs.report(
        [
            Metric("back_to_back", "parse, back to back", "ms CPU", digits=3),
            Metric("gap_1ms", "parse, 1 ms sleep before each", "ms CPU", digits=3),
            Metric("gap_10ms", "parse, 10 ms sleep before each (100 msg/s)", "ms CPU", digits=3),
            Metric("ratio", "10 ms sleep / back to back", "x", digits=2),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
