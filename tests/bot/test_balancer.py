"""``intake serve --workers N``: every connection goes to the web process holding the
fewest, so keep-alive connections opened together are shared evenly (issue 16 saw 23
against 9 with uvicorn's shared socket), and a web process that dies is replaced."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


class _KeepAlive:
    """One keep-alive HTTP/1.1 connection; ``pid()`` asks which process serves it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def pid(self) -> int:
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status = self.file.readline()
        if not status:
            raise ConnectionError("closed without an answer")
        assert status.startswith(b"HTTP/1.1 200")
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(self.file.read(length))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def balanced() -> Iterator[int]:
    """Two web processes of the pid app behind the balancer, on a free port."""
    port = free_port()
    code = (
        "from bot.balancer import serve_balanced; "
        f"serve_balanced(host='127.0.0.1', port={port}, workers=2, "
        "app='tests.support.pid_app:app', factory=False, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conns = [_KeepAlive(port) for _ in range(2)]
                pids = {c.pid() for c in conns}
                for c in conns:
                    c.close()
                if len(pids) == 2:
                    break
            except OSError:
                pass
            assert proc.poll() is None, "the balancer exited"
            assert time.monotonic() < deadline, "two web processes did not come up"
            time.sleep(0.2)
        time.sleep(0.3)  # the closes reach the balancer
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_connections_opened_together_are_shared_evenly(balanced: int) -> None:
    conns = [_KeepAlive(balanced) for _ in range(32)]
    try:
        split = Counter(c.pid() for c in conns)
        assert sorted(split.values()) == [16, 16]
        # Each connection stays with its process (keep-alive): asked again, same answers.
        assert Counter(c.pid() for c in conns) == split
        # Closing eight of one process's connections: the next eight go to it.
        busy = max(split, key=lambda pid: split[pid])
        for conn in [c for c in conns if c.pid() == busy][:8]:
            conn.close()
            conns.remove(conn)
        time.sleep(0.3)
        fresh = [_KeepAlive(balanced) for _ in range(8)]
        conns.extend(fresh)
        assert Counter(c.pid() for c in fresh) == {busy: 8}
    finally:
        for conn in conns:
            conn.close()


def test_a_web_process_that_dies_is_replaced(balanced: int) -> None:
    first = _KeepAlive(balanced)
    victim = first.pid()
    first.close()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        # A connection handed over just as the process died is lost with it (as WeChat's
        # request would be, and retried): such a try is simply made again.
        conns = [_KeepAlive(balanced) for _ in range(4)]
        try:
            pids = {c.pid() for c in conns}
        except OSError:
            pids = set()
        finally:
            for conn in conns:
                conn.close()
        if len(pids) == 2 and victim not in pids:
            return
        assert time.monotonic() < deadline, f"no replacement for {victim}: {pids}"
        time.sleep(0.3)
