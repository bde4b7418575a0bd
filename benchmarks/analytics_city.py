"""Benchmark of the analytics core on a synthetic city's year of tickets.

Generates a year (``benchmarks/city.py``: ≥ 100,000 tickets, planted clusters written in
varied words and address forms, noise, seasons) in memory, then, ``--runs`` times:

* **full rebuild** of the clustering engine (wall clock) and its **pairwise precision,
  recall and F1** against the planted truth;
* the **baseline** side by side: same category + exact (normalised) location string;
* **assignment of one new ticket**: the engine rebuilt on all but the last ``--assign``
  tickets, which are then filed one at a time (p50 / p99 / max latency);

and prints the median of the runs, the hot spots and surge alerts of the year (alerts
checked every Monday; how many fall in a planted storm week), the load average before and
after, the commit and the peak memory.

Then (unless ``--no-endpoints``) the year goes into a database — a temporary SQLite file,
or ``--database-url`` (an empty database) — and ``benchmarks/analytics_endpoints.py``
times the cluster keeper's start from it and each ``/api/analytics/*`` endpoint (median of
``--endpoint-runs`` calls).

Usage: ``.venv/bin/python benchmarks/analytics_city.py [--tickets N] [--seed S] [--runs R]
[--no-endpoints] [--database-url URL] [--endpoint-runs R]``
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from math import comb
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.analytics_endpoints import measure_endpoints  # noqa: E402
from benchmarks.city import CST, Year, generate_year  # noqa: E402
from integrations.analytics import (  # noqa: E402
    ClusterEngine,
    TicketFact,
    hotspots,
    surge_alerts,
)
from nlu.normalize import normalize  # noqa: E402


def pairwise(pred: Mapping[str, str], truth: Mapping[str, str]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering against the truth (both map
    ticket id → cluster id): a pair of tickets counts when both put it together."""
    both = Counter((pred[t], truth[t]) for t in truth)
    together = sum(comb(n, 2) for n in both.values())
    predicted = sum(comb(n, 2) for n in Counter(pred[t] for t in truth).values())
    actual = sum(comb(n, 2) for n in Counter(truth.values()).values())
    precision = together / predicted if predicted else 1.0
    recall = together / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def baseline(facts: Sequence[TicketFact]) -> dict[str, str]:
    """Same category and the same location string (normalised): one cluster."""
    first: dict[tuple[str, str], str] = {}
    out = {}
    for fact in facts:
        key = (fact.category, normalize(fact.location).strip())
        out[fact.id] = first.setdefault(key, fact.id)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def one_run(year: Year, assign_n: int) -> dict[str, float]:
    facts = year.facts
    engine = ClusterEngine()
    rebuild_s, _ = timed(lambda: engine.rebuild(facts))
    p, r, f = pairwise(engine.assignments(), year.truth)
    base_s, base = timed(lambda: baseline(facts))
    bp, br, bf = pairwise(base, year.truth)  # type: ignore[arg-type]

    live = ClusterEngine()
    live.rebuild(facts[:-assign_n])
    latencies = []
    for fact in facts[-assign_n:]:
        started = time.perf_counter()
        live.assign(fact)
        latencies.append(time.perf_counter() - started)
    return {
        "rebuild_s": rebuild_s,
        "p": p,
        "r": r,
        "f1": f,
        "base_s": base_s,
        "bp": bp,
        "br": br,
        "bf1": bf,
        "assign_p50_ms": 1000 * percentile(latencies, 0.50),
        "assign_p99_ms": 1000 * percentile(latencies, 0.99),
        "assign_max_ms": 1000 * max(latencies),
        "clusters": len(set(engine.assignments().values())),
        "engine": engine,  # type: ignore[dict-item]
    }


def alerts_of_the_year(year: Year, engine: ClusterEngine) -> dict[str, int]:
    """Surge alerts checked every Monday (street × category): how many, how many are
    driven by a planted cluster (their largest cluster is one: a real concentration, not
    chance), how many are drainage alerts in a storm week; the hot spots at the year's
    end and how many of them are planted clusters."""
    facts = year.facts
    storms = set(year.storms)
    start = facts[0].created_at
    monday = datetime(start.year, start.month, start.day, 9, tzinfo=CST)
    monday += timedelta(days=(7 - monday.weekday()) % 7)
    alerts = planted = in_storm = 0
    end = facts[-1].created_at
    while monday <= end:
        found = surge_alerts(facts, monday, cluster_of=engine.cluster_of)
        alerts += len(found)
        week = {(monday - timedelta(days=d)).date() for d in range(8)}
        in_storm += sum(1 for a in found if a.category == "report.drainage" and week & storms)
        for alert in found:
            top, count = alert.clusters[0]
            planted += count >= 3 and year.truth.get(top, top).startswith("c")
        monday += timedelta(days=7)
    by_id = {f.id: f for f in facts}
    hot = hotspots(engine.clusters(min_size=3), by_id, end)
    return {
        "alerts": alerts,
        "planted": planted,
        "in_storm": in_storm,
        "hot": len(hot),
        "hot_planted": sum(1 for h in hot if year.truth[h.cluster_id].startswith("c")),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--assign", type=int, default=2000, help="tickets filed one at a time")
    parser.add_argument(
        "--no-endpoints", dest="endpoints", action="store_false",
        help="skip the database and the /api/analytics endpoints",
    )
    parser.add_argument(
        "--database-url", help="an empty database for the endpoints (default: a SQLite file)"
    )
    parser.add_argument(
        "--endpoint-runs", type=int, default=3, help="calls of each endpoint (median printed)"
    )
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    print(
        f"commit {commit()}; {os.cpu_count()} CPUs; load average before "
        f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}"
    )
    gen_s, year = timed(lambda: generate_year(seed=args.seed, tickets=args.tickets))
    assert isinstance(year, Year)
    sizes = Counter(year.truth.values())
    planted = [n for n in sizes.values() if n >= 3]
    print(
        f"generated {len(year.facts):,} tickets in {gen_s:.1f} s (seed {args.seed}): "
        f"{len(planted):,} planted clusters of 3–{max(planted)} tickets "
        f"({sum(planted):,} tickets), {len(year.facts) - sum(planted):,} noise; "
        f"{sum(1 for f in year.facts if f.latitude is not None):,} with coordinates"
    )

    runs = []
    for i in range(args.runs):
        run = one_run(year, args.assign)
        runs.append(run)
        print(
            f"run {i + 1}: rebuild {run['rebuild_s']:.1f} s, F1 {run['f1']:.3f} "
            f"(P {run['p']:.3f} R {run['r']:.3f}); baseline F1 {run['bf1']:.3f}; "
            f"assign p50 {run['assign_p50_ms']:.2f} ms p99 {run['assign_p99_ms']:.2f} ms"
        )

    def med(key: str) -> float:
        return statistics.median(float(run[key]) for run in runs)

    engine = runs[-1]["engine"]
    assert isinstance(engine, ClusterEngine)
    found = alerts_of_the_year(year, engine)
    multi = sum(1 for _ in engine.clusters(min_size=3))
    load_after = os.getloadavg()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print()
    print(f"| median of {args.runs} runs | engine | baseline (category + exact location) |")
    print("| --- | ---: | ---: |")
    print(f"| pairwise F1 | **{med('f1'):.3f}** | {med('bf1'):.3f} |")
    print(
        f"| precision / recall | {med('p'):.3f} / {med('r'):.3f} | "
        f"{med('bp'):.3f} / {med('br'):.3f} |"
    )
    print(
        f"| full rebuild, {len(year.facts):,} tickets | **{med('rebuild_s'):.1f} s** | "
        f"{med('base_s'):.2f} s |"
    )
    print(
        f"| assign one new ticket (after {len(year.facts) - args.assign:,}; "
        f"{args.assign:,} filed) | p50 {med('assign_p50_ms'):.2f} ms, "
        f"**p99 {med('assign_p99_ms'):.2f} ms**, max {med('assign_max_ms'):.1f} ms | – |"
    )
    print(f"| clusters | {int(med('clusters')):,} ({multi:,} of 3+ tickets) | – |")
    print()
    print(
        f"surge alerts over the year (street × category, checked every Monday): "
        f"{found['alerts']}, {found['planted']} of them led by a planted cluster, "
        f"{found['in_storm']} drainage alerts in a week with one of the {len(year.storms)} "
        f"planted storms; hot spots at the year's end: {found['hot']} "
        f"({found['hot_planted']} planted clusters)"
    )
    print(
        f"load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
        f"peak memory {peak_mb:.0f} MB"
    )
    if args.endpoints:
        del runs  # the other engines: memory for the database run
        gc.collect()
        measure_endpoints(
            year.facts, engine, runs=args.endpoint_runs, database_url=args.database_url
        )
        load_end = os.getloadavg()
        print(
            f"load average at the end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}; "
            f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
