"""``intake serve --workers N``: N web processes that share the load evenly.

uvicorn's own ``--workers`` lets every process accept from one listening socket, and
whichever process wakes first takes every connection waiting: keep-alive connections
(WeChat's, or a load balancer's pool) opened together pile onto one process (23 against 9
in issue 16), and the second process idles while the first queues.

Here the parent process accepts every connection and hands it to the worker process that
holds the fewest open connections (ties in turn), passing the socket itself over a Unix
socket (``SCM_RIGHTS``); the worker serves it with uvicorn's HTTP protocol as if it had
accepted it, and reports when it closes. A worker that dies is started again; its
connections are gone with it (WeChat retries the message on another connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["serve_balanced"]

log = logging.getLogger("intake.balancer")

#: worker → parent: started (ready for connections); one connection closed
_READY = b"r"
_CLOSED = b"x"


@dataclass
class _Worker:
    """The parent's view of one web process."""

    index: int
    process: BaseProcess
    channel: socket.socket  # the parent's end of the socket pair
    ready: bool = False
    connections: int = 0
    started: float = field(default_factory=time.monotonic)


def _worker_main(channel: socket.socket, config_kwargs: dict[str, Any]) -> None:
    """A web process: uvicorn serving the connections the parent sends over ``channel``."""
    config = uvicorn.Config(**config_kwargs)
    server = _HandedServer(config, channel)
    server.run()


class _HandedServer(uvicorn.Server):
    """A uvicorn server with no listening socket of its own: it serves the connections
    handed over ``channel``."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        channel.setblocking(False)
        self._handing: set[asyncio.Task[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        config = self.config

        def protocol() -> asyncio.Protocol:
            proto: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )
            lost = proto.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    with contextlib.suppress(OSError):
                        self.channel.send(_CLOSED)

            proto.connection_lost = connection_lost  # type: ignore[method-assign]
            return proto

        def receive() -> None:
            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(self.channel, 64, 64)
                except BlockingIOError:
                    return
                except OSError:
                    loop.remove_reader(self.channel.fileno())
                    self.should_exit = True  # the parent is gone
                    return
                if not fds:
                    loop.remove_reader(self.channel.fileno())
                    self.should_exit = True
                    return
                for fd in fds:
                    sock = socket.socket(fileno=fd)
                    sock.setblocking(False)
                    task = loop.create_task(loop.connect_accepted_socket(protocol, sock))
                    self._handing.add(task)
                    task.add_done_callback(self._handing.discard)

        loop.add_reader(self.channel.fileno(), receive)
        self.channel.send(_READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets=[])


class _Balancer:
    """The parent: accepts, picks the least-loaded worker, hands the connection over."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        workers: int,
        config_kwargs: dict[str, Any],
        backlog: int = 2048,
    ) -> None:
        self.count = workers
        self.config_kwargs = config_kwargs
        self.listener = socket.create_server((host, port), backlog=backlog, reuse_port=False)
        self.listener.setblocking(False)
        self.context = multiprocessing.get_context("spawn")
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []
        self.turn = itertools.count()
        self.stopping = False

    def _spawn(self, index: int) -> _Worker:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = self.context.Process(
            target=_worker_main,
            args=(child_end, self.config_kwargs),
            name=f"intake-web-{index}",
            daemon=False,
        )
        process.start()
        child_end.close()
        parent_end.setblocking(False)
        worker = _Worker(index, process, parent_end)
        self.selector.register(parent_end, selectors.EVENT_READ, worker)
        log.info("web process %d started (pid %s)", index, process.pid)
        return worker

    def _pick(self) -> _Worker | None:
        ready = [w for w in self.workers if w.ready and w.process.is_alive()]
        if not ready:
            return None
        fewest = min(w.connections for w in ready)
        tied = [w for w in ready if w.connections == fewest]
        return tied[next(self.turn) % len(tied)]

    def _accept(self) -> None:
        while True:
            worker = self._pick()
            if worker is None:
                return  # nobody ready: connections wait in the backlog
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            try:
                socket.send_fds(worker.channel, [b"c"], [conn.fileno()])
                worker.connections += 1
            except OSError:
                log.warning("web process %d did not take a connection", worker.index)
            finally:
                conn.close()

    def _from_worker(self, worker: _Worker) -> None:
        try:
            data = worker.channel.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(worker.channel)
            worker.channel.close()
            worker.ready = False
            return
        if _READY in data:
            worker.ready = True
        worker.connections = max(0, worker.connections - data.count(_CLOSED))

    def _replace_dead(self) -> None:
        for i, worker in enumerate(self.workers):
            if worker.process.is_alive() or self.stopping:
                continue
            log.warning(
                "web process %d (pid %s) exited with %s; starting it again",
                worker.index,
                worker.process.pid,
                worker.process.exitcode,
            )
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(worker.channel)
            worker.channel.close()
            self.workers[i] = self._spawn(worker.index)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, self._stop)
        try:
            self.workers = [self._spawn(i) for i in range(self.count)]
            self.selector.register(self.listener, selectors.EVENT_READ, None)
            host, port = self.listener.getsockname()[:2]
            log.info("balancing http://%s:%d over %d web processes", host, port, self.count)
            while not self.stopping:
                for key, _ in self.selector.select(timeout=0.5):
                    if key.data is None:
                        self._accept()
                    else:
                        self._from_worker(key.data)
                self._replace_dead()
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _shutdown(self) -> None:
        self.stopping = True
        with contextlib.suppress(Exception):
            self.selector.unregister(self.listener)
        self.listener.close()
        for worker in self.workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for worker in self.workers:
            worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            with contextlib.suppress(OSError):
                worker.channel.close()
        self.selector.close()


def serve_balanced(*, host: str, port: int, workers: int, **config_kwargs: Any) -> None:
    """Serve ``bot.app:create_app`` (built in each web process from the environment) on
    ``host:port`` with ``workers`` processes; blocks until SIGINT or SIGTERM.
    ``config_kwargs`` go to :class:`uvicorn.Config` in each web process."""
    kwargs = {"app": "bot.app:create_app", "factory": True, **config_kwargs}
    _Balancer(host=host, port=port, workers=workers, config_kwargs=kwargs).run()
