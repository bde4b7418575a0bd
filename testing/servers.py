"""Serve ASGI apps (the app under test, the fakes) on real uvicorn servers on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import uvicorn

if TYPE_CHECKING:
    from integrations.wechat.fake_server import FakeWeChatAPI

__all__ = ["free_port", "serve_asgi", "serve_wechat_fake"]


def free_port() -> int:
    """A loopback port free right now (for a server started in another process, which
    binds it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_asgi(
    app: Any, *, lifespan: Literal["auto", "on", "off"] = "on", name: str = "asgi"
) -> Iterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1 on a free port; yield ``http://127.0.0.1:PORT``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the OS picks the port: no race between servers
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # request lines can carry access tokens
        lifespan=lifespan,
        ws="none",
        timeout_graceful_shutdown=2,
        # The app decides whom to believe about X-Forwarded-For (INTAKE_TRUSTED_PROXIES);
        # uvicorn's own handling would rewrite the peer address before the app sees it.
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"{name} server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve_wechat_fake(fake: FakeWeChatAPI) -> Iterator[str]:
    """Run the fake WeChat API on loopback, so clients cross real HTTP; yield its base URL."""
    with serve_asgi(fake.app, lifespan="off", name="fake-wechat") as url:
        yield url
