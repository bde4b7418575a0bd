"""Old code against new, in turns: is a change's gain larger than the host's drift?

On these virtual machines a figure drifts by ±5 % within minutes, so three runs of the old
code followed by three of the new can show a gain that is only the host getting faster.
This runs ``benchmarks/load_conversations.py`` once per turn, alternately on ``BASE`` (a
temporary git worktree of that commit) and on this checkout as it is (uncommitted changes
included), in the order A B, B A, A B, … so that a steady drift favours neither, and
reports every pair's difference besides the medians::

    .venv/bin/python benchmarks/ab.py 23beefe --pairs 3 -- \\
        --system embedded --mix mixed --rate 100 --residents 1000 --model-dir .bench/models

Both sides use the same ``--model-dir`` (resolved against this checkout), so they parse
with the same trained model. A gain counts as shown when the new code did better in every
pair; otherwise the output says the pairs disagree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.host import host_line  # noqa: E402
from benchmarks.repeat import load_average  # noqa: E402

__all__ = ["FIGURES", "Figure", "compare", "load_args", "turns"]

#: arguments this script sets itself on every run
_OWN_ARGS = ("--runs", "--json", "--profile")


@dataclass(frozen=True)
class Figure:
    """One figure of a run: its key in the run's JSON, label, and whether lower is better."""

    key: tuple[str, ...]
    label: str
    lower_is_better: bool
    digits: int


FIGURES = (
    Figure(("cpu_ms_per_message",), "CPU ms/msg", True, 3),
    Figure(("msg_per_s",), "msg/s", False, 0),
    Figure(("latency_ms", "p99"), "p99 ms", True, 1),
    # CPU seconds of the separate worker process (scaled runs only)
    Figure(("cpu_s", "outbox_worker"), "worker CPU s", True, 2),
)


def load_args(args: Sequence[str], root: Path = ROOT) -> list[str]:
    """The load benchmark's arguments for one turn: ``--model-dir`` made absolute (both
    trees share the model); the arguments this script sets itself are refused."""
    out: list[str] = []
    items = list(args)
    for i, arg in enumerate(items):
        name = arg.split("=", 1)[0]
        if name in _OWN_ARGS:
            raise ValueError(f"{name} is set by ab.py (one run a turn, its own JSON)")
        if i and items[i - 1] == "--model-dir":
            arg = str((root / arg).resolve())
        elif name == "--model-dir" and "=" in arg:
            arg = f"--model-dir={(root / arg.split('=', 1)[1]).resolve()}"
        out.append(arg)
    return out


def turns(pairs: int) -> list[str]:
    """The order of the runs: ``A B``, then ``B A``, and so on."""
    order: list[str] = []
    for pair in range(pairs):
        order.extend(("A", "B") if pair % 2 == 0 else ("B", "A"))
    return order


def _value(run: Mapping[str, Any], key: tuple[str, ...]) -> float | None:
    node: Any = run
    for part in key:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


def compare(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], figure: Figure
) -> dict[str, Any]:
    """Pair by pair (the i-th run of each side), the difference new − old of ``figure``;
    the medians, and in how many pairs the new code did better."""
    a = [_value(run, figure.key) for run in old]
    b = [_value(run, figure.key) for run in new]
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    differences = [y - x for x, y in pairs]
    better = sum(1 for d in differences if (d < 0 if figure.lower_is_better else d > 0))
    worse = sum(1 for d in differences if (d > 0 if figure.lower_is_better else d < 0))
    return {
        "old": [x for x, _ in pairs],
        "new": [y for _, y in pairs],
        "differences": differences,
        "old_median": statistics.median(x for x, _ in pairs) if pairs else None,
        "new_median": statistics.median(y for _, y in pairs) if pairs else None,
        "median_difference": statistics.median(differences) if differences else None,
        "new_better": better,
        "new_worse": worse,
        "pairs": len(pairs),
    }


def _verdict(result: Mapping[str, Any]) -> str:
    n, better, worse = result["pairs"], result["new_better"], result["new_worse"]
    if not n:
        return "no figures"
    if better == n:
        return f"new better in all {n} pairs"
    if worse == n:
        return f"new worse in all {n} pairs"
    return f"new better in {better}, worse in {worse} of {n} pairs: not resolved"


def report(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], labels: tuple[str, str]
) -> str:
    """The pairs and their summary as text, one block per system and process count."""
    lines = []
    groups = sorted({(r["system"], r["processes"]) for r in (*old, *new)})
    for system, processes in groups:
        mine_old = [r for r in old if (r["system"], r["processes"]) == (system, processes)]
        mine_new = [r for r in new if (r["system"], r["processes"]) == (system, processes)]
        lines.append(f"-- {system} x{processes}: A = {labels[0]}, B = {labels[1]}")
        for figure in FIGURES:
            result = compare(mine_old, mine_new, figure)
            if not result["pairs"]:
                continue
            d = figure.digits
            each = ", ".join(
                f"{x:.{d}f}→{y:.{d}f}" for x, y in zip(result["old"], result["new"], strict=True)
            )
            lines.append(
                f"   {figure.label:<11} A {result['old_median']:.{d}f}  "
                f"B {result['new_median']:.{d}f}  B−A median {result['median_difference']:+.{d}f}"
                f"  ({_verdict(result)}; pairs {each})"
            )
    return "\n".join(lines)


@contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A temporary git worktree of ``commit`` (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="intake-ab-") as parent:
        path = Path(parent) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(path), commit],
            cwd=ROOT,
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False
            )


def _one_run(tree: Path, args: Sequence[str], out: Path) -> tuple[str, list[dict[str, Any]]]:
    """One run of the load benchmark in ``tree``: the commit it reported, and its runs."""
    # The tree's own code: its directory comes first on sys.path (the script's own
    # directory's parent, and the servers' ``-m`` from their cwd), ahead of the
    # editable install's finder.
    command = [sys.executable, str(tree / "benchmarks" / "load_conversations.py"), *args]
    command += ["--runs", "1", "--json", str(out)]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"a run failed in {tree} (exit {done.returncode})")
    figures = json.loads(out.read_text(encoding="utf-8"))
    return str(figures["provenance"]["commit"]), list(figures["runs"])


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, rest = argv, []
    if "--" in argv:
        cut = argv.index("--")
        own, rest = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare this checkout against")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each side, in turns")
    parser.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    options = parser.parse_args(own)
    if options.pairs < 1:
        parser.error("at least one pair")
    try:
        args = load_args(rest)
    except ValueError as exc:
        parser.error(str(exc))
    labels = (_git("rev-parse", "--short=9", options.base), _git("rev-parse", "--short=9", "HEAD"))
    if _git("status", "--porcelain", "--untracked-files=no"):
        labels = (labels[0], labels[1] + "-dirty")
    print(f"== ab: A = {labels[0]}, B = this checkout ({labels[1]}); {options.pairs} pairs, "
          f"in the order {' '.join(turns(options.pairs))}")
    print(f"   load_conversations.py {' '.join(args)}")
    print(f"   {host_line()}", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with worktree(labels[0]) as old_tree, tempfile.TemporaryDirectory() as scratch:
        trees = {"A": old_tree, "B": ROOT}
        for number, side in enumerate(turns(options.pairs), start=1):
            before = load_average()[0]
            commit, runs = _one_run(trees[side], args, Path(scratch) / f"{number}.json")
            results[side].extend(runs)
            figures = "; ".join(
                f"{r['system']} x{r['processes']} {r['cpu_ms_per_message']:.3f} ms/msg, "
                f"{r['msg_per_s']:.0f} msg/s, p99 {r['latency_ms']['p99']:.1f} ms"
                for r in runs
            )
            print(f"   turn {number} ({side}, {commit}): {figures}; load average "
                  f"{before:.2f} → {load_average()[0]:.2f}", flush=True)
    print(report(results["A"], results["B"], labels))
    if options.json:
        options.json.write_text(
            json.dumps({"labels": labels, "args": args, "runs": results}, indent=1),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
