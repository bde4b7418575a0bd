"""Figures you can trust: every benchmark runs its measurement several times (three by
default) and prints, through this one helper, the median and the spread (lowest–highest)
of each figure, the machine's load average before and after every run, and the commit
and date the figures belong to.

A figure from a busy machine is not a figure of the code: the load average says how busy
the machine was, the spread how much the runs disagreed. The README quotes medians only
from output of this module.

    from benchmarks.repeat import Metric, Runs

    runs = Runs("bench_channel", count=args.runs)
    for _ in runs:                      # prints the header; notes the load around each run
        runs.record(measure())          # a mapping of figures (nested dicts allowed)
    runs.report([Metric("ratio", "channel / bare", "%", scale=100)])
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.host import host, host_line

__all__ = ["Metric", "Runs", "load_average", "provenance", "spread"]

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> tuple[float, float, float]:
    """The machine's 1, 5 and 15-minute load averages (zeros where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def provenance() -> dict[str, Any]:
    """Which code and which machine: the commit (``-dirty`` with uncommitted changes to
    tracked files), the date in UTC, the CPU count, Python, and the host's CPU and speed
    (:func:`benchmarks.host.host`: figures of two hosts compare only through it)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short=9", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    return {
        "commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "host": host(),
    }


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """``(median, lowest, highest)`` of ``values``."""
    if not values:
        return (0.0, 0.0, 0.0)
    return (statistics.median(values), min(values), max(values))


def _lookup(figures: Mapping[str, Any], path: str) -> float | None:
    node: Any = figures
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


@dataclass(frozen=True)
class Metric:
    """One figure to summarise: ``path`` into each run's figures (dots for nesting),
    its label and unit; ``scale`` multiplies (0.42 → 42 %), ``digits`` after the point."""

    path: str
    label: str
    unit: str = ""
    scale: float = 1.0
    digits: int = 1

    def text(self, value: float) -> str:
        return f"{value * self.scale:,.{self.digits}f}"


@dataclass
class Runs:
    """The runs of one benchmark: iterate to run ``count`` times, :meth:`record` the
    figures of each, then :meth:`report`."""

    name: str
    count: int = 3
    settings: str = ""
    figures: list[dict[str, Any]] = field(default_factory=list)
    loads: list[tuple[float, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=provenance)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("at least one run")

    def header(self) -> str:
        return (
            f"== {self.name}: {self.count} run{'s' if self.count > 1 else ''}, "
            f"commit {self.info['commit']}, {self.info['date']}, {self.info['cpus']} CPUs, "
            f"Python {self.info['python']}; load average now {load_average()[0]:.2f}"
            + f"\n   {host_line()}"
            + (f"\n   {self.settings}" if self.settings else "")
        )

    def __iter__(self) -> Iterator[int]:
        print(self.header(), flush=True)
        for number in range(1, self.count + 1):
            before = load_average()[0]
            started = time.monotonic()
            yield number
            after = load_average()[0]
            self.loads.append((before, after))
            print(
                f"   run {number}/{self.count} done in {time.monotonic() - started:.0f} s; "
                f"load average {before:.2f} → {after:.2f}",
                flush=True,
            )

    def record(self, figures: Mapping[str, Any]) -> None:
        self.figures.append(dict(figures))

    def values(self, path: str) -> list[float]:
        found = (_lookup(run, path) for run in self.figures)
        return [v for v in found if v is not None]

    def summary(self, metrics: Sequence[Metric]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for metric in metrics:
            values = self.values(metric.path)
            if not values:
                continue
            median, low, high = spread(values)
            out[metric.path] = {
                "label": metric.label,
                "median": median * metric.scale,
                "low": low * metric.scale,
                "high": high * metric.scale,
                "runs": [v * metric.scale for v in values],
                "unit": metric.unit,
            }
        return out

    def report(self, metrics: Sequence[Metric], *, title: str | None = None) -> str:
        """The summary table (printed and returned): median, spread and each run."""
        width = max([len(m.label) + len(m.unit) + 3 for m in metrics] + [20])
        lines = [
            f"-- {title or self.name}: median of {len(self.figures)} "
            f"run{'s' if len(self.figures) != 1 else ''} (commit {self.info['commit']}, "
            f"{self.info['date']})",
            f"   {'figure':<{width}} {'median':>10} {'spread (low–high)':>22}   each run",
        ]
        for metric in metrics:
            values = self.values(metric.path)
            if not values:
                continue
            median, low, high = spread(values)
            label = f"{metric.label} ({metric.unit})" if metric.unit else metric.label
            each = " ".join(metric.text(v) for v in values)
            lines.append(
                f"   {label:<{width}} {metric.text(median):>10} "
                f"{metric.text(low) + '–' + metric.text(high):>22}   {each}"
            )
        loads = ", ".join(f"{b:.2f}→{a:.2f}" for b, a in self.loads)
        lines.append(f"   load average (1 min) before→after each run: {loads}")
        text = "\n".join(lines)
        print(text, flush=True)
        return text

    def dump(self, path: Path, metrics: Sequence[Metric], **extra: Any) -> None:
        """The figures of every run, the summary and the provenance as JSON."""
        payload = {
            "benchmark": self.name,
            "provenance": self.info,
            "settings": self.settings,
            "load_average_before_after": self.loads,
            "summary": self.summary(metrics),
            "runs": self.figures,
            **extra,
        }
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
        print(f"wrote {path}")
