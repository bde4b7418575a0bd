"""A lean HTTP/1.1 keep-alive client for the benchmarks: httpx costs more CPU per request
than the servers being measured, which would make the load generator the bottleneck."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlencode, urlsplit

__all__ = ["Connection"]


class Connection:
    """One keep-alive connection; ``post`` returns ``(status, body)``.

    A server may close a keep-alive connection that sat idle (uvicorn does after 5 s); a
    request that finds its reused connection closed before any answer byte is sent again
    once on a new connection. Any other failure raises; call :meth:`reset` before reusing
    a connection whose request failed or was cancelled half-way.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """The open streams, and whether they were already open (reused)."""
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            return self._reader, self._writer, False
        return self._reader, self._writer, True

    async def post(self, params: dict[str, str], body: bytes) -> tuple[int, bytes]:
        target = f"{self.path}?{urlencode(params)}"
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(2):
            reader, writer, reused = await self._connect()
            try:
                writer.write(head + body)
                await writer.drain()
                status_line = await reader.readline()
            except ConnectionError:
                if not reused:
                    raise
                status_line = b""
            if status_line:
                return await self._read_rest(reader, status_line)
            # Closed before answering: an idle keep-alive connection the server dropped.
            self.reset()
            if not reused:
                raise ConnectionError("server closed the connection without answering")
        raise ConnectionError("server closed the connection without answering")

    @staticmethod
    async def _read_rest(reader: asyncio.StreamReader, status_line: bytes) -> tuple[int, bytes]:
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        payload = await reader.readexactly(length) if length else b""
        return status, payload

    def reset(self) -> None:
        """Drop the connection (after a failed or cancelled request); the next request opens
        a new one."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
