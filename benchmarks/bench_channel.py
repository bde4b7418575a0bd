"""Channel overhead: signed text messages from many residents, real app vs bare endpoint.

Starts both servers (uvicorn, one process each, on loopback), sends the same load to each
in the same run and prints messages/second and p50/p99 latency, plus the ratio. Three runs
by default (``--runs``): the median and spread of each figure, the load average around
each run and the commit (``benchmarks/repeat.py``).

    .venv/bin/python benchmarks/bench_channel.py [--messages 4000] [--concurrency 32] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadclient import Connection  # noqa: E402
from bot.wechat.simulator import CallbackSigner  # noqa: E402
from testing.servers import free_port  # noqa: E402

TOKEN = "benchtoken123"



def _start(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory" if target.endswith(":create") else "",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen([c for c in cmd if c], cwd=ROOT, env=env)


async def _wait_up(url: str, timeout: float = 180.0) -> None:
    """Until the server answers (a first start migrates and seeds its database)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.get(url, timeout=0.5)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def _load(
    url: str, messages: int, concurrency: int, residents: int
) -> tuple[float, list[float]]:
    signer = CallbackSigner(TOKEN)
    latencies: list[float] = []
    # Requests are signed before the clock starts, so signing is not measured.
    requests = [
        signer.text(f"o-bench-{i % residents}", f"第{i}条：小区门口路灯坏了")
        for i in range(messages)
    ]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(messages):
        queue.put_nowait(i)

    async def worker(conn: Connection) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            status, body = await conn.post(requests[i].params, requests[i].body)
            latencies.append(time.perf_counter() - started)
            if status != 200 or not body.startswith(b"<xml>"):
                raise RuntimeError(f"unexpected answer {status}: {body[:80]!r}")

    connections = [Connection(url) for _ in range(concurrency)]
    for j, conn in enumerate(connections):  # warm-up: open connections, first requests
        warm = signer.text(f"o-warm-{j}", "你好")
        await conn.post(warm.params, warm.body)
    started = time.perf_counter()
    await asyncio.gather(*(worker(conn) for conn in connections))
    elapsed = time.perf_counter() - started
    for conn in connections:
        await conn.close()
    return messages / elapsed, latencies


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def _one_run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, object]:
    results: dict[str, object] = {}
    for name, target in (
        ("bare", "benchmarks.bare_endpoint:app"),
        ("channel", "benchmarks.channel_app:create"),
    ):
        port = free_port()
        proc = _start(target, port, env)
        try:
            url = f"http://127.0.0.1:{port}/wechat"
            await _wait_up(f"http://127.0.0.1:{port}/")
            rate, latencies = await _load(url, args.messages, args.concurrency, args.residents)
            results[name] = {
                "msg_per_s": rate,
                "p50_ms": _pct(latencies, 50),
                "p99_ms": _pct(latencies, 99),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    bare, channel = results["bare"], results["channel"]
    assert isinstance(bare, dict) and isinstance(channel, dict)
    results["ratio"] = channel["msg_per_s"] / bare["msg_per_s"]
    return results


async def main() -> None:
    from benchmarks.repeat import Metric, Runs

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    runs = Runs(
        "bench_channel",
        args.runs,
        settings=(
            f"{args.messages} signed text messages, {args.concurrency} concurrent, "
            f"{args.residents} residents, one server process each"
        ),
    )
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "INTAKE_DATA_DIR": data_dir,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": "wxbench",
            "WECHAT_APP_SECRET": "benchsecret",
            "INTAKE_ADMIN_TOKEN": "bench-admin-token-0123456789",
            "WECHAT_API_BASE_URL": "http://127.0.0.1:9",
            "INTAKE_LOG_LEVEL": "WARNING",
        }
        env.pop("REDIS_URL", None)
        for _ in runs:
            result = await _one_run(args, env)
            runs.record(result)
            bare, channel = result["bare"], result["channel"]
            assert isinstance(bare, dict) and isinstance(channel, dict)
            print(
                f"   bare {bare['msg_per_s']:.0f} msg/s (p99 {bare['p99_ms']:.1f} ms); "
                f"intake channel {channel['msg_per_s']:.0f} msg/s (p99 "
                f"{channel['p99_ms']:.1f} ms): {result['ratio']:.0%}",
                flush=True,
            )
    metrics = [
        Metric("bare.msg_per_s", "bare endpoint", "msg/s", digits=0),
        Metric("bare.p50_ms", "bare endpoint p50", "ms"),
        Metric("bare.p99_ms", "bare endpoint p99", "ms"),
        Metric("channel.msg_per_s", "intake channel", "msg/s", digits=0),
        Metric("channel.p50_ms", "intake channel p50", "ms"),
        Metric("channel.p99_ms", "intake channel p99", "ms"),
        Metric("ratio", "channel / bare endpoint", "%", scale=100, digits=0),
    ]
    runs.report(metrics)
    ratio = runs.summary(metrics)["ratio"]["median"]
    print(
        f"channel throughput / bare endpoint: {ratio:.0f}% (median; target >= 60%) — "
        + ("met" if ratio >= 60 else "MISSED")
    )
    if args.json:
        runs.dump(args.json, metrics)


if __name__ == "__main__":
    asyncio.run(main())
