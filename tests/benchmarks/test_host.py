"""benchmarks/host.py: every benchmark's header names its host and the host's speed on a
fixed piece of work, so that figures of two hosts can be compared."""

from __future__ import annotations

from pathlib import Path

from benchmarks.host import host, host_line, reference_work
from benchmarks.repeat import Runs, provenance


def test_the_reference_work_is_fixed() -> None:
    assert reference_work() == reference_work()


def test_the_host_is_named_and_timed_once_per_process() -> None:
    info = host()
    assert info["cpu"] and info["idle_driver"]
    assert 0 < info["reference_warm_ms"] < 50
    assert 0 < info["reference_after_sleep_ms"] < 50
    assert host() is info  # measured once: a second benchmark in the process pays nothing
    line = host_line()
    assert info["cpu"] in line and "after 10 ms of sleep" in line


def test_every_benchmark_header_and_dump_carry_the_host(tmp_path: Path) -> None:
    runs = Runs("demo", count=1)
    assert host_line() in runs.header()
    assert provenance()["host"] == host()
    for _ in runs:
        runs.record({"x": 1.0})
    out = tmp_path / "demo.json"
    runs.dump(out, [])
    assert '"reference_warm_ms"' in out.read_text()
