"""Which machine a figure comes from, and how fast it is: figures of two hosts compare
only through a yardstick that does not change with the code.

Hosts of the same kind are not the same host. On 2026-12-03 two VMs of this project's
machine kind (2 vCPUs, ``haltpoll``), one an AMD EPYC and one an Intel Xeon, ran the same
NLU code through ``bench_idle_gap``: 0.557 against 0.310 ms of CPU a parse back to back
(1.8×), 1.368 against 0.503 ms after 10 ms of sleep, as at 100 msg/s (2.7×). A newcomer
whose figures differ from the README's needs to know whether the code or the host differs.

:func:`host` names the CPU and the idle driver, and times a fixed piece of pure-Python
work (what a message's handling is made of: JSON, XML, hashing, sorting, a regular
expression, lookups in a table of a few megabytes; none of the project's code) twice:
back to back, and each call after 10 ms of sleep as at 100 msg/s. Its figures move with
the host, never with a commit: a figure divided by its host's reference compares across
hosts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

T = TypeVar("T")

__all__ = ["cpu_ms_per_call", "host", "host_line", "reference_work"]

_WORDS = [f"{'投诉路灯噪音物业医保社保'[i % 12]}{i % 97}-{i}" for i in range(300)]
_PATTERN = re.compile(r"[灯音]\d{2}")
# A few megabytes to look things up in, as a model's vocabulary and weights are: what a
# sleep lets the machine evict is what makes a message after a pause cost more.
_TABLE = {f"{'路灯噪音物业医保'[i % 8]}{i}": float(i % 251) for i in range(60_000)}
_DOCUMENT = {
    "lines": [
        {"at": f"2026-12-03T08:{i:02d}:00", "role": "resident", "text": word}
        for i, word in enumerate(_WORDS[:30])
    ],
    "state": {"mode": "case", "asking": "where", "case": {"what": _WORDS[5], "phone": None}},
}
_XML = (
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName>"
    "<CreateTime>1796339696</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[小区门口的路灯坏了三天了]]></Content><MsgId>1234567890</MsgId></xml>"
)
_KEYS = [f"{'路灯噪音物业医保'[(i * 7919) % 8]}{(i * 7919) % 60_000}" for i in range(600)]


def reference_work() -> int:
    """The fixed piece of work (~0.1–0.3 ms of CPU): its result is only for the caller
    to keep, so that no part of it can be skipped."""
    document = json.loads(json.dumps(_DOCUMENT, ensure_ascii=False))
    root = ElementTree.fromstring(_XML)
    stamp = datetime(2026, 12, 3, 8, 30, tzinfo=UTC).isoformat() + root.findtext("Content", "")
    digest = hashlib.sha1(stamp.encode()).hexdigest() + str(len(document["lines"]))
    table = _TABLE
    looked_up = sum(table[key] for key in _KEYS)
    counts: dict[str, int] = {}
    for word in _WORDS:
        key = word[:2]
        counts[key] = counts.get(key, 0) + len(word)
    grams = [word[i : i + 2] for word in _WORDS[:120] for i in range(len(word) - 1)]
    text = " ".join(sorted(_WORDS, key=lambda w: w[::-1]))
    found = len(_PATTERN.findall(text)) + len(set(grams)) + len(digest)
    return found + sum(counts.values()) + int(looked_up)


def cpu_ms_per_call(call: Callable[[T], object], items: Sequence[T], gap: float) -> float:
    """Mean CPU milliseconds of ``call`` over ``items``, sleeping ``gap`` s before each
    call; only the calls are timed (``time.process_time`` around each), never the sleep."""
    spent = 0.0
    for item in items:
        if gap:
            time.sleep(gap)
        started = time.process_time()
        call(item)
        spent += time.process_time() - started
    return spent / len(items) * 1000


def _reference_ms(calls: int, gap: float) -> float:
    return cpu_ms_per_call(lambda _n: reference_work(), range(calls), gap)


def _cpuinfo_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _idle_driver() -> str:
    try:
        return Path("/sys/devices/system/cpu/cpuidle/current_driver").read_text().strip()
    except OSError:
        return "unknown"


@functools.cache
def host() -> dict[str, Any]:
    """CPU model, idle driver and the reference work's CPU milliseconds: ``warm`` (median
    of five rounds of 100 calls back to back) and ``after_sleep`` (the mean of 100 calls,
    each after 10 ms of sleep). About a second and a half, once per process."""
    _reference_ms(50, 0.0)  # warm the interpreter's caches for this code
    warm = statistics.median(_reference_ms(100, 0.0) for _ in range(5))
    after_sleep = _reference_ms(100, 0.010)
    return {
        "cpu": _cpuinfo_model(),
        "idle_driver": _idle_driver(),
        "reference_warm_ms": round(warm, 4),
        "reference_after_sleep_ms": round(after_sleep, 4),
    }


def host_line() -> str:
    """:func:`host` in one line, for a benchmark's header."""
    info = host()
    return (
        f"host: {info['cpu']}, idle driver {info['idle_driver']}; reference work "
        f"{info['reference_warm_ms']:.3f} ms CPU warm, "
        f"{info['reference_after_sleep_ms']:.3f} ms after 10 ms of sleep"
    )
