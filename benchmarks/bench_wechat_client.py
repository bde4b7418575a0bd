"""What one WeChat API call costs the app: CPU per status push, aiohttp against httpx.

A status push is one ``WeChatClient.send_text`` (a POST of a JSON body to
``/cgi-bin/message/custom/send``). This serves the fake WeChat API in a process of its own
on loopback (so only the client's CPU is counted), then times ``send_text`` in this
process with ``time.process_time`` around each call: with the client's own HTTP layer
(aiohttp, ``integrations/posts.py``) and, side by side in the same run as the baseline,
with an httpx transport injected (what every call used before). Back to back, and with
10 ms of sleep before each call (a push at 100 msg/s arrives after the process slept).

Three runs by default; medians and spread, load average and commit (``benchmarks/repeat.py``).

    .venv/bin/python benchmarks/bench_wechat_client.py [--calls 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.repeat import Metric, Runs  # noqa: E402
from integrations.state import MemoryStore  # noqa: E402
from integrations.wechat import WeChatClient  # noqa: E402

APP_ID = "wx_bench_app_0001"
SECRET = "bench-secret-0001"
#: the two HTTP layers: the client's own, and the httpx baseline injected as a transport
LAYERS = ("aiohttp", "httpx")
GAPS = {"back_to_back": 0.0, "gap_10ms": 0.010}
NOTICE = "您反映的问题已派单，工单号20261204-0001。"

_SERVE = """
import sys, uvicorn
from integrations.wechat.fake_server import FakeWeChatAPI
app = FakeWeChatAPI(app_id=sys.argv[1], app_secret=sys.argv[2]).app
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning",
            access_log=False, lifespan="off")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fake_wechat() -> Iterator[str]:
    """The fake WeChat API in a process of its own; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, APP_ID, SECRET, str(port)], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake WeChat API did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _cpu_ms_per_call(
    call: Callable[[int], Awaitable[object]], calls: int, gap: float
) -> float:
    spent = 0.0
    for n in range(calls):
        if gap:
            await asyncio.sleep(gap)
        started = time.process_time()
        await call(n)
        spent += time.process_time() - started
    return spent / calls * 1000


async def measure(base_url: str, calls: int, *, reverse: bool) -> dict[str, float]:
    """CPU ms per ``send_text`` for each layer and gap (the layers' order reversed every
    other run, so that neither always runs on a warmer machine)."""
    figures: dict[str, float] = {}
    for layer in LAYERS[::-1] if reverse else LAYERS:
        transport = httpx.AsyncHTTPTransport() if layer == "httpx" else None
        async with WeChatClient(
            app_id=APP_ID,
            app_secret=SECRET,
            base_url=base_url,
            store=MemoryStore(),
            transport=transport,
        ) as client:

            async def push(n: int, client: WeChatClient = client) -> None:
                await client.send_text(f"o-bench-{n % 50:04d}", NOTICE)

            await _cpu_ms_per_call(push, 50, 0.0)  # token, connection, warm code
            for name, gap in GAPS.items():
                figures[f"{layer}_{name}"] = await _cpu_ms_per_call(push, calls, gap)
    for name in GAPS:
        figures[f"ratio_{name}"] = figures[f"httpx_{name}"] / figures[f"aiohttp_{name}"]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300, help="calls per layer, gap and run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    settings = f"{args.calls} send_text a layer and gap"
    runs = Runs("bench_wechat_client", args.runs, settings=settings)
    with fake_wechat() as base_url:
        for index, _ in enumerate(runs):
            figures = asyncio.run(measure(base_url, args.calls, reverse=index % 2 == 1))
            print("   " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
            runs.record(figures)
    cpu = "ms CPU"
    runs.report(
        [
            Metric("aiohttp_back_to_back", "send_text on aiohttp, back to back", cpu, digits=3),
            Metric("httpx_back_to_back", "send_text on httpx, back to back", cpu, digits=3),
            Metric("aiohttp_gap_10ms", "on aiohttp, 10 ms sleep before each", cpu, digits=3),
            Metric("httpx_gap_10ms", "on httpx, 10 ms sleep before each", cpu, digits=3),
            Metric("ratio_back_to_back", "httpx / aiohttp, back to back", "x", digits=2),
            Metric("ratio_gap_10ms", "httpx / aiohttp, 10 ms sleep", "x", digits=2),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
