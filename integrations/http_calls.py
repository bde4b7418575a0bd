"""How the API clients (WeChat's, an Open311 server's) make their HTTP calls: on aiohttp,
or through an injected httpx client.

A call of the WeChat API is one POST of a JSON body; an Open311 server gets form POSTs and
GETs. On httpx a call cost about 0.8 ms of CPU on this project's hosts, most of it in
anyio, httpcore and h11 (pure Python, ~2,700 function calls a request); on aiohttp, whose
parser is in C, about 0.2 ms. With a status push for nearly every ticket and one or two
dispatch calls, that was 0.1–0.3 ms of every mixed message (issue 16; the measurements are
in ``docs/perf``).

An injected httpx client or transport is still honoured: the development fake WeChat
answers in the process over ASGI, and tests shape odd answers with httpx's MockTransport.
Either way the caller sees the same two outcomes: an :class:`Answer`, or
:class:`CallFailed` saying whether the request may have reached the server (a refused
connection certainly did not; a lost answer may have been acted on) and whether it timed
out. Redirects are never followed: a POST must not be replayed elsewhere, and a moved
endpoint is the operator's to fix.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

import aiohttp
import httpx
from yarl import URL

__all__ = ["HTTPX_NOT_SENT", "Answer", "CallFailed", "ClosesItsCalls", "HTTPCalls"]

#: httpx's transport failures that prove the request never left (no connection made):
#: what may be sent again without doubt.
HTTPX_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: aiohttp's failures proving the same.
_AIOHTTP_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


@dataclass(frozen=True, slots=True)
class Answer:
    """A server's whole answer: status, reason phrase, headers (case-insensitive), body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    #: the charset the Content-Type header declares, if any
    charset: str | None


class CallFailed(Exception):
    """No answer came: ``kind`` names the failure (a class name, never the URL, which may
    carry a token); ``maybe_sent`` is False only when the request surely never left;
    ``timed_out`` when a time limit ended it."""

    def __init__(self, kind: str, *, maybe_sent: bool, timed_out: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.maybe_sent = maybe_sent
        self.timed_out = timed_out


class HTTPCalls:
    """The HTTP calls of one API client: ``http_client`` (or ``transport``) injects httpx;
    with neither, an aiohttp session of its own (made on the first call, in the caller's
    event loop). The client closes what it made, never what it was given (:meth:`aclose`)."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        self._timeout = timeout
        self._owns_httpx = http_client is None
        self._httpx = http_client
        if transport is not None:
            self._httpx = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._session: aiohttp.ClientSession | None = None
        #: the proxy of each origin called, from the environment, read once per origin
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}
        self._closed = False

    async def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str],
    ) -> Answer:
        """``method`` ``url`` with ``content`` as the body; the server's whole answer."""
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        if self._httpx is not None:
            return await self._call_httpx(method, url, params, content, headers)
        session = self._session or self._open()
        proxy, proxy_auth = self._proxy_for(url)
        try:
            async with session.request(
                method,
                url,
                params=params,
                data=content,
                headers=headers,
                proxy=proxy,
                proxy_auth=proxy_auth,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                return Answer(
                    answer.status, answer.reason or "", answer.headers, body, answer.charset
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CallFailed(
                type(exc).__name__,
                maybe_sent=not isinstance(exc, _AIOHTTP_NOT_SENT),
                timed_out=isinstance(exc, TimeoutError),
            ) from exc

    async def _call_httpx(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> Answer:
        assert self._httpx is not None
        try:
            response = await self._httpx.request(
                method,
                url,
                params=params,
                content=content,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TransportError as exc:
            raise CallFailed(
                type(exc).__name__,
                maybe_sent=not isinstance(exc, HTTPX_NOT_SENT),
                timed_out=isinstance(exc, httpx.TimeoutException),
            ) from exc
        return Answer(
            response.status_code,
            response.reason_phrase,
            response.headers,
            response.content,
            response.charset_encoding,
        )

    def _open(self) -> aiohttp.ClientSession:
        timeout = self._timeout
        parts = (timeout.pool, timeout.connect, timeout.write, timeout.read)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                # aiohttp has no write timeout: a call stuck in its write ends when the
                # whole call has taken as long as its four limits together.
                total=None if None in parts else sum(p for p in parts if p is not None),
                # aiohttp's "connect" includes waiting for a pooled connection.
                connect=(
                    None
                    if timeout.pool is None or timeout.connect is None
                    else timeout.pool + timeout.connect
                ),
                sock_connect=timeout.connect,
                sock_read=timeout.read,
            ),
            # No cookies, no Content-Type guessing: an API call carries what the client
            # says. The environment's proxies are read once (_proxy_for), not by aiohttp on
            # every request (trust_env also reads ~/.netrc each time: as much CPU as the
            # call itself).
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            skip_auto_headers=("Content-Type",),
            raise_for_status=False,
        )
        return self._session

    def _proxy_for(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy the environment names for ``url``'s origin (HTTPS_PROXY, HTTP_PROXY,
        NO_PROXY), as httpx followed them: a government network often reaches WeChat only
        through its egress proxy. Read on the first call to an origin, as httpx read them
        when its client was made."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        found = self._proxies.get(origin)
        if found is None:
            named = urllib.request.getproxies().get(parts.scheme)
            if not named or urllib.request.proxy_bypass(parts.hostname or ""):
                found = (None, None)
            else:
                proxy = URL(named if "://" in named else f"http://{named}")
                auth = aiohttp.BasicAuth.from_url(proxy) if proxy.user else None
                found = (proxy.with_user(None), auth)
            self._proxies[origin] = found
        return found

    async def aclose(self) -> None:
        """Close what this object made (an injected httpx client stays open)."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._httpx is not None and self._owns_httpx:
            await self._httpx.aclose()


class ClosesItsCalls:
    """Base of the API clients: ``async with`` closes their :class:`HTTPCalls` (which
    closes only what it made)."""

    _http: HTTPCalls

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        await self._http.aclose()
