"""What the app's HTTP calls out cost it: CPU per call, aiohttp against httpx.

Three calls the app makes for nearly every ticket: a status push (``WeChatClient.send_text``,
a POST of a JSON body to ``/cgi-bin/message/custom/send``), and, with an Open311 dispatch
system, the filing (``Open311Backend.submit``, a form POST of ``requests.json``) and a
status poll (``Open311Backend.poll`` of one id, a GET). The fake WeChat API and the fake
Open311 server each run in a process of their own on loopback (so only the client's CPU is
counted); each call is timed in this process with ``time.process_time``: with the clients'
own HTTP layer (aiohttp, ``integrations/http_calls.py``) and, side by side in the same run
as the baseline, with an httpx transport injected (what every call used before). Back to
back, and with 10 ms of sleep before each call (at 100 msg/s a call comes after the
process slept).

Three runs by default; medians and spread, load average and commit (``benchmarks/repeat.py``).

    .venv/bin/python benchmarks/bench_http_calls.py [--calls 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.repeat import Metric, Runs  # noqa: E402
from integrations.dispatch import DispatchRequest  # noqa: E402
from integrations.dispatch.open311 import Open311Backend, Open311Config  # noqa: E402
from integrations.state import MemoryStore  # noqa: E402
from integrations.wechat import WeChatClient  # noqa: E402
from testing.open311_fake import DEFAULT_API_KEY  # noqa: E402
from testing.servers import free_port  # noqa: E402

APP_ID = "wx_bench_app_0001"
SECRET = "bench-secret-0001"
#: the two HTTP layers: the clients' own, and the httpx baseline injected as a transport
LAYERS = ("aiohttp", "httpx")
CALLS = ("send_text", "submit", "poll")
GAPS = {"back_to_back": 0.0, "gap_10ms": 0.010}
NOTICE = "您反映的问题已派单，工单号20261204-0001。"

_SERVE_WECHAT = """
import sys, uvicorn
from integrations.wechat.fake_server import FakeWeChatAPI
app = FakeWeChatAPI(app_id=sys.argv[1], app_secret=sys.argv[2]).app
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning",
            access_log=False, lifespan="off")
"""
_SERVE_OPEN311 = """
import sys, uvicorn
from testing.open311_fake import FakeOpen311Server
app = FakeOpen311Server().app
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""



@contextmanager
def _served(script: str, *args: str) -> Iterator[str]:
    """``script`` (a uvicorn server on the port given last) in a process of its own;
    yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", script, *args, str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("a fake server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def fake_servers() -> Iterator[tuple[str, str]]:
    """The fake WeChat API and the fake Open311 server; yields their base URLs."""
    with _served(_SERVE_WECHAT, APP_ID, SECRET) as wechat, _served(_SERVE_OPEN311) as open311:
        yield wechat, open311


def _ticket(n: int) -> DispatchRequest:
    return DispatchRequest(
        ticket_id=f"20261204-{n:04d}",
        idempotency_key=f"bench-{n}",
        category="report.streetlight",
        description="幸福小区3号楼东门的路灯不亮已经三天了",
        location="幸福小区3号楼东门",
        phone="13800138000",
        urgent=False,
        department="市政照明管理处",
        level="district",
    )


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


async def _measure_layer(layer: str, urls: tuple[str, str], calls: int) -> dict[str, float]:
    wechat_url, open311_url = urls
    figures: dict[str, float] = {}

    def transport() -> httpx.AsyncHTTPTransport | None:
        return httpx.AsyncHTTPTransport() if layer == "httpx" else None

    async with AsyncExitStack() as stack:
        wechat = await stack.enter_async_context(
            WeChatClient(
                app_id=APP_ID,
                app_secret=SECRET,
                base_url=wechat_url,
                store=MemoryStore(),
                transport=transport(),
            )
        )
        open311 = await stack.enter_async_context(
            Open311Backend(
                Open311Config(
                    url=open311_url,
                    api_key=DEFAULT_API_KEY,
                    service_map={"report.streetlight": "STREETLIGHT"},
                ),
                transport=transport(),
            )
        )
        filed = (await open311.submit(_ticket(0))).external_id
        assert filed is not None

        async def send_text(n: int) -> None:
            await wechat.send_text(f"o-bench-{n % 50:04d}", NOTICE)

        async def submit(n: int) -> None:
            await open311.submit(_ticket(n))

        async def poll(n: int) -> None:
            assert await open311.poll([filed])

        for name, call in (("send_text", send_text), ("submit", submit), ("poll", poll)):
            await _cpu_ms_per_call(call, 50, 0.0)  # token, connection, warm code
            for gap_name, gap in GAPS.items():
                figures[f"{name}_{layer}_{gap_name}"] = await _cpu_ms_per_call(call, calls, gap)
    return figures


async def measure(urls: tuple[str, str], calls: int, *, reverse: bool) -> dict[str, float]:
    """CPU ms per call for each call, layer and gap (the layers' order reversed every other
    run, so that neither always runs on a warmer machine)."""
    figures: dict[str, float] = {}
    for layer in LAYERS[::-1] if reverse else LAYERS:
        figures.update(await _measure_layer(layer, urls, calls))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300, help="calls per layer, gap and run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    settings = f"{args.calls} calls of each kind a layer and gap"
    runs = Runs("bench_http_calls", args.runs, settings=settings)
    with fake_servers() as urls:
        for index, _ in enumerate(runs):
            figures = asyncio.run(measure(urls, args.calls, reverse=index % 2 == 1))
            print("   " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
            runs.record(figures)
    runs.report(
        [
            Metric(
                f"{call}_{layer}_{gap}",
                f"{call} on {layer}, {'back to back' if gap == 'back_to_back' else '10 ms sleep'}",
                "ms CPU",
                digits=3,
            )
            for call in CALLS
            for gap in GAPS
            for layer in LAYERS
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
