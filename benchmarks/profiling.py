"""Where an app process spends its CPU: py-spy samples of a running process, a flame graph,
and the samples sorted into the stages of one message.

:class:`PySpy` attaches py-spy (``pip install py-spy``; root or ptrace rights) to a process
for the length of a ``with`` block and writes ``NAME.svg`` (the flame graph) and
``NAME.collapsed`` (the collapsed stacks, not kept in git). Only samples of a thread holding
the GIL are taken (``--gil``): the process's Python work, not its waiting. These are
wall-clock samples: on a busy machine a thread preempted while it holds the GIL (most
often right after it woke another process: Redis, PostgreSQL, SQLite's thread) is still
sampled, so shares near such calls weigh more than their CPU. Threads that run without the
GIL (SQLite's, ~1 % of the CPU here) do not show.

:func:`stages` reads collapsed stacks and gives each sample to the stage of its deepest
marker frame, in the order one message meets them: HTTP, signature and XML, dedup, the
resident lock, dialogue state, NLU, policy, chat log, ticket lookups and filing, the
outbox worker, pushes, background loops, logging. SQLAlchemy runs the database driver in a
greenlet whose stack py-spy sees without its caller; those samples are their own stage.

    .venv/bin/python benchmarks/profiling.py docs/perf/before/embedded-x1-web.collapsed
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STAGES", "PySpy", "format_stages", "stages"]

#: (stage, markers): a frame whose "function (file" text contains a marker belongs to the
#: stage. A sample goes to the stage of its deepest marked frame.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "HTTP server and routing (uvicorn, Starlette, FastAPI)",
        ("(uvicorn/", "(starlette/", "(fastapi/", "(h11/", "(httptools/"),
    ),
    (
        "WeChat channel: signature, XML, reply deadline",
        (
            "(bot/wechat/",
            "(bot/channel.py",
            "(bot/api/body.py",
            "(defusedxml/",
            "(xml/",
            "(wechatpy/",
            "create_app.<locals>.wechat_message",
        ),
    ),
    ("dispatcher and middlewares", ("(bot/dispatcher/", "(bot/middlewares/")),
    ("dedup (delivery ledger)", ("(bot/delivery.py", "(bot/middlewares/dedup.py")),
    (
        "resident lock",
        (
            "(bot/middlewares/lock.py",
            "_MemoryLock.",
            "_RedisFairLock.",
            "(integrations/state/lease",
        ),
    ),
    (
        "dialogue state read/write (FSM)",
        ("(bot/fsm/", "(bot/middlewares/fsm.py", "(bot/dialogue/stored_state", "(policies/state"),
    ),
    ("NLU", ("(nlu/", "(jieba/", "(sklearn/", "(scipy/", "(numpy/", "(rapidfuzz/", "(opencc/")),
    ("policy (dialogue decision)", ("(policies/",)),
    ("dialogue handler", ("(bot/handlers/",)),
    ("chat log", ("(integrations/conversations/",)),
    ("personal-data masking", ("(privacy/",)),
    (
        "ticket lookups in a turn (remembered phone, status, ratings)",
        (
            "ServiceTicketDesk.last_phone",
            "ServiceTicketDesk.for_resident",
            "ServiceTicketDesk.rate",
            "ServiceTicketDesk.record_inbound",
        ),
    ),
    ("handoff check and queue", ("(integrations/handoffs/", "ServiceHandoffDesk.")),
    (
        "ticket filing",
        # TicketService.create: the name before the ticket services were split (older profiles)
        ("ServiceTicketDesk.create_from_case", "TicketFiling.", "TicketService.create"),
    ),
    ("outbox worker (delivery to the dispatch system)", ("(integrations/dispatch/",)),
    ("pushes (status notices, late replies)", ("(integrations/notify/", "(bot/push.py")),
    (
        "HTTP calls out (WeChat API, Open311)",
        (
            "(integrations/wechat/",
            "(integrations/http_calls.py",
            "(integrations/posts.py",  # its name until the Open311 backend used it too
            "(aiohttp/",
            "(httpx/",
            "(httpcore/",
        ),
    ),
    (
        "background loops (flushers, sync, deferred filings)",
        (
            "(bot/periodic.py",
            "(integrations/training/sync.py",
            "ServiceTicketDesk._flush_inbound",
            "BufferedReview.",
            "Runtime._file_deferred",
        ),
    ),
    ("shared state store (Redis client, memory store)", ("(redis/", "(integrations/state/")),
    ("logging", ("(logging/", "(bot/logs.py", "(privacy/logfilter")),
)

GREENLET_SQL = "database driver (SQLAlchemy in a greenlet: caller not in the stack)"
LOOP = "event loop (uvloop: sockets, timers, task switches)"
THREADS = "other threads (SQLite's connection threads)"
OTHER = "other"


def _frames(stack: str) -> list[str]:
    return stack.split(";")


def _stage_of(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for stage, markers in reversed(STAGES):
            if any(marker in frame for marker in markers):
                return stage
    if frames and frames[0].startswith("Thread._bootstrap"):
        return THREADS
    if any("(sqlalchemy/" in f or "(aiosqlite/" in f or "(psycopg" in f for f in frames):
        return GREENLET_SQL
    if frames and frames[-1].startswith("Runner.run"):
        return LOOP
    return OTHER


def stages(collapsed: Path) -> tuple[int, Counter[str]]:
    """Total samples and samples per stage of a collapsed-stacks file."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        total += int(number)
        counts[_stage_of(_frames(stack))] += int(number)
    return total, counts


def format_stages(
    collapsed: Path, *, cpu_seconds: float | None = None, messages: int | None = None
) -> str:
    """The stage table: share of samples and, given the process's CPU seconds over the
    messages it served, CPU milliseconds per message."""
    total, counts = stages(collapsed)
    if not total:
        return f"{collapsed}: no samples"
    per_message = (
        cpu_seconds * 1000 / messages if cpu_seconds is not None and messages else None
    )
    order = [name for name, _ in STAGES] + [GREENLET_SQL, LOOP, THREADS, OTHER]
    lines = [
        f"{'stage':<64} {'share':>7}" + (f" {'ms CPU/msg':>11}" if per_message else ""),
    ]
    for name in sorted(order, key=lambda n: -counts.get(n, 0)):
        share = counts.get(name, 0) / total
        if share < 0.0005:
            continue
        cells = f"{name:<64} {share:>6.1%}"
        if per_message is not None:
            cells += f" {share * per_message:>11.3f}"
        lines.append(cells)
    footer = f"{total} samples"
    if per_message is not None:
        footer += f"; {per_message:.2f} ms of CPU per message in all"
    lines.append(footer)
    return "\n".join(lines)


@dataclass
class PySpy:
    """py-spy attached to ``pid`` while the ``with`` block runs: ``out/NAME.svg`` and
    ``out/NAME.txt``. ``rate``: samples per second."""

    pid: int
    out: Path
    name: str
    rate: int = 200

    @staticmethod
    def available() -> str | None:
        return shutil.which("py-spy") or (
            str(Path(sys.executable).with_name("py-spy"))
            if Path(sys.executable).with_name("py-spy").exists()
            else None
        )

    def _start(self, fmt: str, path: Path) -> subprocess.Popen[bytes]:
        exe = self.available()
        if exe is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        return subprocess.Popen(
            [
                exe, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--gil",
                "--nonblocking", "--format", fmt, "--output", str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def collapsed(self) -> Path:
        return self.out / f"{self.name}.collapsed"

    @contextlib.contextmanager
    def recording(self) -> Iterator[PySpy]:
        self.out.mkdir(parents=True, exist_ok=True)
        procs = [
            self._start("raw", self.collapsed),
            self._start("flamegraph", self.out / f"{self.name}.svg"),
        ]
        time.sleep(0.5)  # attached before the load starts
        try:
            yield self
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)  # py-spy writes its files on Ctrl-C
            for proc in procs:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("collapsed", type=Path, nargs="+", help="py-spy raw output files")
    parser.add_argument("--cpu-seconds", type=float, default=None)
    parser.add_argument("--messages", type=int, default=None)
    args = parser.parse_args(argv)
    for path in args.collapsed:
        print(f"== {path}")
        print(format_stages(path, cpu_seconds=args.cpu_seconds, messages=args.messages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
