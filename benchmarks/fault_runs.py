"""Fault runs: the scaled deployment under steady load while one of its parts fails.

Each run starts a fresh deployment (``intake serve --no-worker`` web processes plus one
``intake worker``, on a redis-server of its own and a fresh PostgreSQL database), plays
residents through whole conversations at a steady rate over the signed WeChat protocol
(the pieces of ``benchmarks/load_conversations.py``), breaks one part in the middle of the
load, and afterwards counts from the database which tickets were lost or doubled.

Faults (``--fault``, comma-separated; default all):

* ``redis-restart`` — the redis-server is SIGKILLed (all state lost: dialogues, dedup
  ledger, locks), stays down ``--redis-down`` seconds, and starts again on the same port.
  Conversations cut mid-way may restart; the app must recover without a restart.
* ``pg-outage`` — a TCP proxy here sits between the apps and PostgreSQL; for ``--pg-down``
  seconds it refuses new connections and cuts the open ones. A confirmation that cannot be
  filed may get a holding reply (it says 稍后 and that the ticket number will follow); such
  tickets count as expected, must appear once PostgreSQL is back (waited for up to
  ``--settle`` seconds) and their numbers must be pushed to the resident.
* ``kill-app`` — two separate web processes on their own ports; residents alternate
  between them per message like a load balancer, and a request that fails on one is sent
  again unchanged (same MsgId, as WeChat retries) to the other. One is SIGKILLed mid-load.
* ``slow-dispatch`` — ``DISPATCH_BACKEND=open311`` against the project's Open311 fake
  answering every call after ``--dispatch-delay`` seconds: replies must stay well under 5 s
  (dispatch is the outbox worker's job) and every ticket must be delivered eventually
  (``dispatch_jobs`` delivered, waited for up to ``--drain`` seconds).

Per run it prints messages sent, replies, errors and non-200 answers by kind, replies over
5 s, latency percentiles, tickets expected / created / lost / doubled, and the outcome line
``lost: N, doubled: N``; ``--json`` writes everything. Nothing leaves loopback, the
machine's shared Redis is not used, and every run is bounded in time.

    # the README figures (about 40 s of load per fault at 50 msg/s of mixed traffic)
    .venv/bin/python benchmarks/fault_runs.py --rate 50 --duration 40 --json faults.json
    # one fault, shorter
    .venv/bin/python benchmarks/fault_runs.py --fault kill-app --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.load_conversations import (  # noqa: E402
    DEFAULT_POSTGRES_ADMIN,
    SLOW_REPLY,
    Deployment,
    LoadStats,
    RunContext,
    _base_env,
    _credentials,
    _ensure_model,
    _intake,
    _seed_database,
    _start,
    _stop,
    _tail,
    _wait_ready,
    make_residents,
    percentile,
    play,
    processed_twice,
    tickets_by_resident,
)
from benchmarks.loadclient import Connection  # noqa: E402
from benchmarks.scenarios import MIXES, TICKET_RE, Step, check_reply  # noqa: E402
from bot.wechat.simulator import CallbackSigner  # noqa: E402
from testing.servers import free_port  # noqa: E402

if TYPE_CHECKING:
    from integrations.wechat.fake_server import FakeWeChatAPI
    from testing.open311_fake import FakeOpen311Server

__all__ = [
    "FAULTS",
    "FailoverConnection",
    "PgProxy",
    "RedisServer",
    "asks_to_send_again",
    "check_allowing_holding",
    "fault_tickets",
    "is_holding_reply",
    "main",
]

FAULTS = ("redis-restart", "pg-outage", "kill-app", "slow-dispatch")
T = TypeVar("T")


# -- what counts as a good answer -----------------------------------------------------------


def is_holding_reply(text: str) -> bool:
    """The reply to a confirmation that could not be filed yet: it says 稍后 and that the
    ticket number (单号/编号) will follow, and names none. The plain error reply ("请稍后再发
    一次") and the "please confirm again" reply name no number to come, so they are not."""
    return "稍后" in text and ("单号" in text or "编号" in text) and not TICKET_RE.search(text)


def asks_to_send_again(text: str) -> bool:
    """A reply asking the resident to send the message again (再发一次) or try again
    (再试): a person told so does."""
    return "再发" in text or "再试" in text


def check_allowing_holding(step: Step, reply: str | None, own_ticket: str | None) -> str | None:
    """:func:`check_reply`, except that a confirmation may get the holding reply, and a
    status question after one may answer either way (the ticket may not be filed yet)."""
    if step.files_ticket and reply is not None and is_holding_reply(reply):
        return None
    if step.names_own_ticket and own_ticket is None:
        return None if reply else "no reply"
    return check_reply(step, reply, own_ticket)


def fault_tickets(
    stats: LoadStats,
    tickets: Mapping[str, Sequence[str]],
    *,
    holding_ok: bool,
    pushed_numbers: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Tickets expected against tickets in the database, per resident.

    Expected: confirmations answered with a ticket number (and, with ``holding_ok``, with
    the holding reply). Lost: an expected resident with no ticket, or told a number that is
    not theirs in the database. Doubled: tickets beyond one per resident, and tickets of
    residents who never confirmed. A confirmation answered with something else (the
    conversation was cut and restarted) or not answered at all may have filed 0 or 1.
    """
    replies = stats.confirmation_replies
    numbered: dict[str, str] = {}
    for openid, text in replies.items():
        found = TICKET_RE.search(text)
        if found:
            numbered[openid] = found.group(1)
    held = {
        openid
        for openid, text in replies.items()
        if holding_ok and openid not in numbered and is_holding_reply(text)
    }
    expected = set(numbered) | held
    answered_other = set(replies) - expected
    unanswered = set(stats.confirmations) - set(replies)
    lost_missing = [openid for openid in expected if not tickets.get(openid)]
    lost_wrong_number = [
        openid
        for openid, number in numbered.items()
        if tickets.get(openid) and number not in tickets[openid]
    ]
    doubled = sum(len(ids) - 1 for ids in tickets.values() if len(ids) > 1)
    stray = sum(len(ids) for openid, ids in tickets.items() if openid not in stats.confirmations)
    out: dict[str, Any] = {
        "expected": len(expected),
        "with_number": len(numbered),
        "holding": len(held),
        "created": sum(len(ids) for ids in tickets.values()),
        "lost": len(lost_missing) + len(lost_wrong_number),
        "lost_no_ticket": len(lost_missing),
        "lost_wrong_number": len(lost_wrong_number),
        "doubled": doubled + stray,
        "doubled_per_resident": doubled,
        "stray": stray,
        "answered_without_ticket": len(answered_other),
        "answered_without_ticket_but_filed": sum(1 for o in answered_other if tickets.get(o)),
        "unanswered": len(unanswered),
        "unanswered_but_filed": sum(1 for o in unanswered if tickets.get(o)),
        "lost_samples": sorted(lost_missing + lost_wrong_number)[:5],
    }
    if holding_ok:
        filed_later = [openid for openid in held if tickets.get(openid)]
        pushed = 0
        if pushed_numbers is not None:
            pushed = sum(
                1
                for openid in filed_later
                if any(number in tickets[openid] for number in pushed_numbers.get(openid, ()))
            )
        out["holding_filed_later"] = len(filed_later)
        out["holding_number_pushed"] = pushed
    return out


# -- the parts that fail --------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on a free loopback port, no persistence: a SIGKILL loses
    everything, as a crashed cache host without disk does."""

    def __init__(self, workdir: Path, binary: str = "redis-server") -> None:
        self.binary = shutil.which(binary) or binary
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        import redis

        cmd = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            finally:
                client.close()
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{_tail(self.log)}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class PgProxy:
    """A TCP proxy to PostgreSQL on a loop in a thread of its own. :meth:`refuse` stops
    listening (new connections are refused by the kernel) and cuts the open ones (reset,
    both sides); :meth:`allow` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0
        self.cut = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=15)

    def start(self) -> None:
        self._thread.start()
        self.allow()

    def allow(self) -> None:
        self._call(self._listen())

    def refuse(self) -> None:
        self._call(self._refuse())

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._refuse())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def _refuse(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._open):
            writer.transport.abort()
            self.cut += 1
        self._open.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self._open |= pair

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._open -= pair


class FailoverConnection(Connection):
    """A load balancer in front of several web processes: each request goes to the next
    process in turn; one that fails there (connection refused, reset, closed) is sent again
    unchanged — same MsgId, as WeChat retries — to the next. ``failovers`` counts them by
    error; ``inflight`` counts requests under way per process index (shared by all)."""

    def __init__(
        self, urls: Sequence[str], failovers: Counter[str], inflight: Counter[int]
    ) -> None:
        super().__init__(urls[0])
        self.connections = [Connection(url) for url in urls]
        self.failovers = failovers
        self.inflight = inflight
        self._turn = 0

    async def post(self, params: dict[str, str], body: bytes) -> tuple[int, bytes]:
        first = self._turn
        self._turn = (self._turn + 1) % len(self.connections)
        failure: BaseException | None = None
        for step in range(len(self.connections)):
            index = (first + step) % len(self.connections)
            conn = self.connections[index]
            self.inflight[index] += 1
            try:
                return await conn.post(params, body)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                conn.reset()
                self.failovers[type(exc).__name__] += 1
                failure = exc
            finally:
                self.inflight[index] -= 1
        assert failure is not None
        raise failure

    def reset(self) -> None:
        for conn in self.connections:
            conn.reset()

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()


# -- a deployment with the fault's parts ----------------------------------------------------


@dataclass
class FaultSetup:
    """A started deployment: web processes (one URL each, or one for ``--workers N``), the
    outbox worker, its Redis, and the parts a fault needs."""

    fault: str
    base_urls: list[str]
    database_url: str  # direct, for the accounting (the apps may go through the proxy)
    redis: RedisServer
    web: list[subprocess.Popen[bytes]]
    worker: subprocess.Popen[bytes]
    logs: list[Path]
    proxy: PgProxy | None = None
    open311: FakeOpen311Server | None = None

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [*self.web, self.worker]


def _with_host(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))


def _open311_services() -> tuple[Any, ...]:
    from testing.open311_fake import DEFAULT_SERVICES, FakeService

    return (*DEFAULT_SERVICES, FakeService("GENERAL", "其他诉求", "Everything else", "general"))


@contextlib.contextmanager
def fault_deployment(fault: str, ctx: RunContext, args: argparse.Namespace) -> Iterator[FaultSetup]:
    """Start the deployment ``fault`` needs on fresh storage; stop and clean up after."""
    import psycopg

    from integrations.accounts.bootstrap import ensure_demo_admin
    from testing.servers import serve_asgi

    rundir = ctx.workdir / fault
    rundir.mkdir(parents=True, exist_ok=True)
    db_name = f"intake_fault_{os.getpid()}_{fault.replace('-', '_')}"
    base = ctx.postgres_admin_url.rsplit("/", 1)[0]
    database_url = f"{base}/{db_name}"
    with contextlib.ExitStack() as stack:
        redis = RedisServer(rundir)
        stack.callback(redis.stop)
        redis.start()
        with psycopg.connect(ctx.postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
            conn.execute(f'CREATE DATABASE "{db_name}"')

        def drop() -> None:
            with psycopg.connect(ctx.postgres_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

        stack.callback(drop)
        _seed_database(database_url)
        # The development start creates a console admin when there is none; two processes
        # starting at once on a fresh database would both try (and one stop on the clash).
        asyncio.run(ensure_demo_admin(database_url))
        env = {key: value for key, value in ctx.env.items() if not key.startswith("OPEN311_")}
        env.update(
            INTAKE_DATA_DIR=str(rundir),
            INTAKE_HOST="127.0.0.1",
            DATABASE_URL=database_url,
            REDIS_URL=redis.url,
            # Each complaint must become a ticket (lost/doubled are counted): no follow offer.
            INTAKE_CLUSTER_NOTICE="false",
        )
        proxy: PgProxy | None = None
        if fault == "pg-outage":
            target = urlsplit(database_url)
            proxy = PgProxy(target.hostname or "127.0.0.1", target.port or 5432)
            proxy.start()
            stack.callback(proxy.close)
            env["DATABASE_URL"] = _with_host(database_url, "127.0.0.1", proxy.port)
        open311: FakeOpen311Server | None = None
        if fault == "slow-dispatch":
            from testing.open311_fake import DEFAULT_API_KEY, FakeOpen311Server

            open311 = FakeOpen311Server(services=_open311_services(), delay=args.dispatch_delay)
            url = stack.enter_context(serve_asgi(open311.app, lifespan="off", name="open311"))
            service_map = rundir / "open311-services.yaml"
            service_map.write_text(
                "report.streetlight: STREETLIGHT\nreport.manhole: MANHOLE\n"
                'report.garbage: GARBAGE\n"*": GENERAL\n',
                encoding="utf-8",
            )
            env.update(
                DISPATCH_BACKEND="open311",
                OPEN311_URL=url,
                OPEN311_API_KEY=DEFAULT_API_KEY,
                OPEN311_SERVICE_MAP=str(service_map),
            )
        web: list[subprocess.Popen[bytes]] = []
        logs: list[Path] = []
        base_urls: list[str] = []
        if fault == "kill-app":
            # Two separate processes with their own ports: one can die alone.
            for n in range(2):
                port = free_port()
                logs.append(rundir / f"serve-{n}.log")
                web.append(
                    _start(
                        _intake("serve", "--no-worker"), {**env, "INTAKE_PORT": str(port)}, logs[-1]
                    )
                )
                base_urls.append(f"http://127.0.0.1:{port}")
        else:
            port = free_port()
            logs.append(rundir / "serve.log")
            command = _intake("serve", "--workers", str(args.processes), "--no-worker")
            web.append(_start(command, {**env, "INTAKE_PORT": str(port)}, logs[-1]))
            base_urls.append(f"http://127.0.0.1:{port}")
        logs.append(rundir / "worker.log")
        worker = _start(_intake("worker"), env, logs[-1])
        for proc in (*web, worker):
            stack.callback(_stop, proc)
        for n, url in enumerate(base_urls):
            _wait_ready(
                Deployment(
                    "scaled",
                    len(web),
                    url,
                    database_url,
                    redis.url,
                    [web[n], worker],
                    [logs[n], logs[-1]],
                )
            )
        yield FaultSetup(fault, base_urls, database_url, redis, web, worker, logs, proxy, open311)


# -- one run --------------------------------------------------------------------------------


async def _inject(
    setup: FaultSetup,
    args: argparse.Namespace,
    t0: float,
    events: list[tuple[float, str]],
    inflight: Counter[int],
) -> tuple[float, float] | None:
    """Break the part at ``--fault-at`` seconds into the load; returns (start, end) of the
    fault in seconds from the load's start (end = start for a fault that stays)."""

    def note(what: str) -> float:
        at = time.perf_counter() - t0
        events.append((round(at, 2), what))
        return at

    if setup.fault == "slow-dispatch":
        note(f"dispatch answers every call after {args.dispatch_delay:g} s, throughout")
        return None
    await asyncio.sleep(max(0.0, args.fault_at - (time.perf_counter() - t0)))
    if setup.fault == "redis-restart":
        start = note("redis-server SIGKILLed (all state lost)")
        await asyncio.to_thread(setup.redis.kill)
        await asyncio.sleep(args.redis_down)
        await asyncio.to_thread(setup.redis.start)
        return start, note("redis-server started again on the same port, empty")
    if setup.fault == "pg-outage":
        assert setup.proxy is not None
        start = note("PostgreSQL proxy refuses new connections and cut the open ones")
        await asyncio.to_thread(setup.proxy.refuse)
        await asyncio.sleep(args.pg_down)
        await asyncio.to_thread(setup.proxy.allow)
        return start, note("PostgreSQL proxy lets connections through again")
    if setup.fault == "kill-app":
        victim = setup.web[0]
        # Kill it while it holds requests (up to 3 s of looking), so that some die half-way
        # and their retries land on the other process with the same MsgId.
        for _ in range(6000):
            if inflight[0]:
                break
            await asyncio.sleep(0.0005)
        held = inflight[0]
        os.killpg(victim.pid, signal.SIGKILL)
        start = note(f"web process {setup.base_urls[0]} SIGKILLed with {held} request(s) under way")
        await asyncio.to_thread(victim.wait, 10)
        return start, start
    raise ValueError(f"unknown fault {setup.fault!r}")


def _pushed_numbers(fake: FakeWeChatAPI, openids: Sequence[str]) -> dict[str, list[str]]:
    """Ticket numbers found in customer-service messages pushed to each resident."""
    found: dict[str, list[str]] = {}
    for openid in openids:
        for call in fake.delivered_to(openid):
            text = (call.json or {}).get("text", {}).get("content")
            if isinstance(text, str):
                found.setdefault(openid, []).extend(TICKET_RE.findall(text))
    return found


def _dispatch_jobs(database_url: str, prefix: str) -> dict[str, int]:
    """Outbox jobs of the run's tickets by status."""
    from sqlalchemy import create_engine, text

    from integrations.db.migrate import sync_database_url

    engine = create_engine(sync_database_url(database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT j.status, count(*) FROM dispatch_jobs j "
                    "JOIN tickets t ON t.id = j.ticket_id "
                    "WHERE t.openid LIKE :prefix GROUP BY j.status"
                ),
                {"prefix": prefix + "%"},
            ).all()
    finally:
        engine.dispose()
    return {str(status): int(count) for status, count in rows}


def _failure_timeline(
    stats: LoadStats, t0: float, window: tuple[float, float] | None, grace: float
) -> dict[str, Any]:
    """When failed turns happened, relative to the load's start and to the fault."""
    times = [at - t0 for at, _ in stats.failures]
    per_second = Counter(int(at) for at in times)
    out: dict[str, Any] = {
        "first_s": round(min(times), 2) if times else None,
        "last_s": round(max(times), 2) if times else None,
        "per_second": {str(k): v for k, v in sorted(per_second.items())},
    }
    if window is not None:
        start, end = window
        out["before_fault"] = sum(1 for at in times if at < start)
        out["during_fault"] = sum(1 for at in times if start <= at <= end + grace)
        out["after_fault"] = sum(1 for at in times if at > end + grace)
        late = [at for at in times if at > end]
        out["last_after_fault_end_s"] = round(max(late) - end, 2) if late else None
    return out


async def _run_fault(
    setup: FaultSetup,
    args: argparse.Namespace,
    signer: CallbackSigner,
    fake: FakeWeChatAPI,
    tag: str,
) -> dict[str, Any]:
    urls = [url + "/wechat" for url in setup.base_urls]
    failovers: Counter[str] = Counter()
    inflight: Counter[int] = Counter()

    def connection() -> Connection:
        if len(urls) > 1:
            return FailoverConnection(urls, failovers, inflight)
        return Connection(urls[0])

    connections = [connection() for _ in range(args.concurrency)]
    warm = make_residents(f"o-warm-{tag}-", args.warmup, MIXES["mixed"], args.seed + 7)
    await play(
        urls[0],
        signer,
        warm,
        connections=connections,
        retry_share=0,
        fake=fake,
        record=False,
        spare=connection,
    )
    failovers.clear()

    prefix = f"o-fault-{tag}-"
    # More residents than the duration needs; those not started when it is over are not.
    residents = make_residents(
        prefix, int(args.rate * args.duration) + 50, MIXES[args.mix], args.seed
    )
    holding_ok = setup.fault == "pg-outage"
    events: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    load = asyncio.create_task(
        play(
            urls[0],
            signer,
            residents,
            connections=connections,
            retry_share=args.retry_share,
            rate=args.rate,
            timeout=args.timeout,
            max_seconds=args.duration,
            fake=fake,
            seed=args.seed,
            check=check_allowing_holding if holding_ok else check_reply,
            spare=connection,
            resend_when=None if args.no_resend else asks_to_send_again,
            resend_pause=args.resend_pause,
            late_wait=args.late_wait,
        )
    )
    try:
        window = await _inject(setup, args, t0, events, inflight)
        stats = await load
    finally:
        if not load.done():
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
    load_end = time.perf_counter() - t0
    events.append((round(load_end, 2), "load over"))
    for conn in connections:
        await conn.close()

    started = [openid for openid, _ in residents[: len(residents) - stats.residents_not_started]]
    # Tickets filed after the reply (holding replies) need PostgreSQL back and a moment.
    wait = args.settle if holding_ok else 5.0
    deadline = time.monotonic() + wait
    while True:
        tickets = await asyncio.to_thread(tickets_by_resident, setup.database_url, prefix)
        pushed = _pushed_numbers(fake, list(stats.confirmation_replies)) if holding_ok else None
        figures = fault_tickets(stats, tickets, holding_ok=holding_ok, pushed_numbers=pushed)
        settled = figures["lost_no_ticket"] == 0 and (
            not holding_ok or figures["holding_number_pushed"] == figures["holding"]
        )
        if settled or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    events.append((round(time.perf_counter() - t0, 2), "tickets counted"))

    dispatch: dict[str, Any] | None = None
    if setup.fault == "slow-dispatch":
        deadline = time.monotonic() + args.drain
        while True:
            jobs = await asyncio.to_thread(_dispatch_jobs, setup.database_url, prefix)
            if jobs.get("pending", 0) == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        drained_at = time.perf_counter() - t0
        assert setup.open311 is not None
        ours = {ticket for ids in tickets.values() for ticket in ids}  # not the warm-up's
        by_ticket = Counter(
            r.attributes.get("intake_ticket_id", [""])[0]
            for r in setup.open311.requests
            if r.attributes.get("intake_ticket_id", [""])[0] in ours
        )
        dispatch = {
            "delay_per_call_s": args.dispatch_delay,
            "jobs": jobs,
            "delivered": jobs.get("delivered", 0),
            "undelivered": sum(n for status, n in jobs.items() if status != "delivered"),
            "drained_s_after_load": round(drained_at - load_end, 1),
            "open311_requests": sum(by_ticket.values()),
            "open311_doubled": sum(n - 1 for n in by_ticket.values() if n > 1),
        }

    lat = stats.latencies
    kinds = Counter(kind for _, kind in stats.failures)
    alive = [proc.poll() is None for proc in setup.procs]
    result: dict[str, Any] = {
        "fault": setup.fault,
        "events": events,
        "rate": args.rate,
        "mix": args.mix,
        "residents_started": len(started),
        "residents_finished": stats.residents_finished,
        "messages": stats.messages,
        "requests": stats.requests,
        "replies": stats.requests - stats.non_200,
        "late_pushed": stats.late_pushed,
        "resent_when_asked": stats.resent,
        "errors": {
            "transport": stats.transport_errors,
            "non_200": stats.non_200,
            "unexpected_replies": stats.unexpected,
            "unexpected_texts": dict(stats.unexpected_texts.most_common(5)),
            "by_kind": dict(kinds.most_common()),
            "error_samples": stats.error_samples[:5],
            "unexpected_samples": stats.unexpected_samples[:5],
        },
        "failovers": dict(failovers),
        "timeline": _failure_timeline(stats, t0, window, args.grace),
        "over_5s": sum(1 for x in lat if x > SLOW_REPLY),
        "latency_ms": {
            name: round(percentile(lat, p) * 1000, 1)
            for name, p in (("p50", 50), ("p99", 99), ("max", 100))
        },
        "retries": {
            "sent": stats.retries_inflight + stats.retries_after,
            "identical": stats.retries_identical,
            "different": stats.retries_different,
            "samples": stats.retry_samples[:3],
        },
        # A resident who sent a line again when asked to has it twice in the chat log.
        "processed_twice": processed_twice(
            setup.redis.url, [openid for openid in started if openid not in stats.resent_by]
        ),
        "tickets": figures,
        "dispatch": dispatch,
        "processes_alive": f"{sum(alive)}/{len(alive)}",
        "elapsed_s": round(stats.elapsed, 1),
    }
    return result


# -- report ---------------------------------------------------------------------------------


def _print_run(r: Mapping[str, Any]) -> None:
    e, t, lat = r["errors"], r["tickets"], r["latency_ms"]
    print(f"== {r['fault']} ({r['rate']:g} msg/s {r['mix']}, {r['elapsed_s']:.0f} s)")
    for at, what in r["events"]:
        print(f"  +{at:5.1f} s  {what}")
    print(
        f"  messages sent {r['messages']} ({r['requests']} requests with retries), "
        f"replies {r['replies']}, residents {r['residents_started']} "
        f"(finished {r['residents_finished']})"
    )
    by_kind = ", ".join(f"{k} {n}" for k, n in e["by_kind"].items()) or "none"
    print(
        f"  errors: transport {e['transport']}, non-200 {e['non_200']}, unexpected replies "
        f"{e['unexpected_replies']}; by kind: {by_kind}"
    )
    if r["resent_when_asked"]:
        print(f"  turns sent again because the reply asked to: {r['resent_when_asked']}")
    for text, n in e["unexpected_texts"].items():
        print(f"  unexpected reply x{n}: {text}")
    if r["failovers"]:
        print(f"  requests sent again to the other process: {r['failovers']}")
    tl = r["timeline"]
    if tl["first_s"] is not None:
        line = f"  failures from +{tl['first_s']:.1f} s to +{tl['last_s']:.1f} s"
        if "after_fault" in tl:
            line += (
                f" (before the fault {tl['before_fault']}, during it or within the grace "
                f"{tl['during_fault']}, after {tl['after_fault']})"
            )
        print(line)
    for sample in e["error_samples"][:3] + e["unexpected_samples"][:2]:
        print(f"    e.g. {sample}")
    print(
        f"  replies over 5 s: {r['over_5s']}; latency p50 {lat['p50']:.1f} ms, "
        f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms; late (pushed) {r['late_pushed']}"
    )
    rt = r["retries"]
    print(
        f"  retries answered identically {rt['identical']}/{rt['sent']}; residents with a "
        f"message processed twice: {r['processed_twice']}; processes alive {r['processes_alive']}"
    )
    line = (
        f"  tickets: expected {t['expected']} (with a number {t['with_number']}"
        + (f", holding reply {t['holding']}" if "holding_filed_later" in t else "")
        + f"), created {t['created']}, lost {t['lost']}, doubled {t['doubled']}"
    )
    print(line)
    print(
        f"  confirmations answered without a ticket {t['answered_without_ticket']} "
        f"(filed anyway {t['answered_without_ticket_but_filed']}), unanswered "
        f"{t['unanswered']} (filed {t['unanswered_but_filed']})"
    )
    if "holding_filed_later" in t:
        print(
            f"  holding replies: {t['holding']}, filed once PostgreSQL was back "
            f"{t['holding_filed_later']}, number pushed to the resident "
            f"{t['holding_number_pushed']}"
        )
    d = r["dispatch"]
    if d is not None:
        print(
            f"  dispatch ({d['delay_per_call_s']:g} s per call): jobs {d['jobs']}, delivered "
            f"{d['delivered']}, undelivered {d['undelivered']}, drained "
            f"{d['drained_s_after_load']:.1f} s after the load; Open311 requests "
            f"{d['open311_requests']}, doubled there {d['open311_doubled']}"
        )
    print(f"  lost: {t['lost']}, doubled: {t['doubled']}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fault", default=",".join(FAULTS), help="comma-separated, of: " + ", ".join(FAULTS)
    )
    parser.add_argument("--rate", type=float, default=50.0, help="messages/s, open loop")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of load per run")
    parser.add_argument(
        "--fault-at", type=float, default=None, help="seconds into the load (default 40%% of it)"
    )
    parser.add_argument("--mix", choices=sorted(MIXES), default="mixed")
    parser.add_argument("--concurrency", type=int, default=64, help="residents at a time")
    parser.add_argument(
        "--processes", type=int, default=2, help="web processes (serve --workers N)"
    )
    parser.add_argument("--retry-share", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=15.0, help="per request, seconds")
    parser.add_argument("--warmup", type=int, default=64, help="residents before measuring")
    parser.add_argument("--redis-down", type=float, default=3.0, help="seconds Redis stays dead")
    parser.add_argument("--pg-down", type=float, default=10.0, help="seconds PostgreSQL is cut off")
    parser.add_argument(
        "--dispatch-delay", type=float, default=3.0, help="seconds per Open311 call"
    )
    parser.add_argument("--settle", type=float, default=60.0, help="wait for deferred tickets")
    parser.add_argument("--drain", type=float, default=180.0, help="wait for dispatch deliveries")
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds after a fault ends in which failures count as its own",
    )
    parser.add_argument(
        "--no-resend",
        action="store_true",
        help="residents asked to send again (再发) give up instead",
    )
    parser.add_argument("--resend-pause", type=float, default=2.0, help="before sending again")
    parser.add_argument(
        "--late-wait",
        type=float,
        default=45.0,
        help="how long a resident answered 'success' waits for the pushed reply",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--model-dir", type=Path, default=None, help="reuse a trained model")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the processes' logs here (default: a temporary folder)",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_ADMIN, help="admin database")
    args = parser.parse_args(argv)
    args.faults = [f.strip() for f in args.fault.split(",") if f.strip()]
    unknown = set(args.faults) - set(FAULTS)
    if unknown or not args.faults:
        parser.error(f"--fault takes {', '.join(FAULTS)} (got {', '.join(sorted(unknown))})")
    if args.fault_at is None:
        args.fault_at = args.duration * 0.4
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        return 2
    from integrations.wechat.fake_server import FakeWeChatAPI
    from testing.servers import serve_wechat_fake

    credentials = _credentials()
    fake = FakeWeChatAPI(
        app_id=credentials["WECHAT_APP_ID"], app_secret=credentials["WECHAT_APP_SECRET"]
    )
    signer = CallbackSigner(credentials["WECHAT_TOKEN"])
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            workdir = args.workdir
        else:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="intake-faults-"))
            )
        fake_url = stack.enter_context(serve_wechat_fake(fake))
        model_dir = args.model_dir or workdir / "models"
        _ensure_model(model_dir)
        ctx = RunContext(
            workdir=workdir,
            model_dir=model_dir,
            fake_url=fake_url,
            env=_base_env(credentials, model_dir, fake_url),
            redis_url="",  # each run has a redis-server of its own
            postgres_admin_url=args.postgres_url,
        )
        for fault in args.faults:
            print(f"{fault}: starting …", end=" ", flush=True)
            with fault_deployment(fault, ctx, args) as setup:
                print(f"up; {args.duration:g} s at {args.rate:g} msg/s …", flush=True)
                result = asyncio.run(_run_fault(setup, args, signer, fake, secrets.token_hex(3)))
                if any(proc.poll() is not None for proc in setup.procs) and fault != "kill-app":
                    result["logs_tail"] = {log.name: _tail(log, 15) for log in setup.logs}
            results.append(result)
            _print_run(result)
            print(flush=True)
    if args.json:
        payload = {
            "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "runs": results,
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
        print(f"wrote {args.json}")
    print("outcome:")
    for r in results:
        print(f"  {r['fault']:14} lost: {r['tickets']['lost']}, doubled: {r['tickets']['doubled']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
