"""How an API client sends its POSTs: on aiohttp, or through an injected httpx client.

A call of the WeChat API is one POST of a JSON body, answered by a status and a body. On
httpx it cost about 0.8 ms of CPU a call on this project's hosts, most of it in anyio,
httpcore and h11 (pure Python, ~2,700 function calls a request); on aiohttp, whose parser
is in C, about 0.2 ms. With a status push for nearly every ticket that was 0.1–0.2 ms of
every mixed message (issue 16; the measurement is in ``docs/perf``).

An injected httpx client or transport is still honoured: the development fake WeChat
answers in the process over ASGI, and tests watch the requests. Either way the caller sees
the same two outcomes: ``(status, body)``, or :class:`PostFailed` saying whether the
request may have reached the server (a refused connection certainly did not; a lost
answer may have been acted on).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
import httpx
from yarl import URL

from integrations.owned_http import HTTPX_NOT_SENT

__all__ = ["PostFailed", "Posts"]

#: aiohttp's failures proving that the request never left: no connection was made.
_AIOHTTP_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


class PostFailed(Exception):
    """No answer came: ``kind`` names the failure (a class name, never the URL, which may
    carry a token); ``maybe_sent`` is False only when the request surely never left."""

    def __init__(self, kind: str, *, maybe_sent: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.maybe_sent = maybe_sent


class Posts:
    """The POSTs of one API client: ``http_client`` (or ``transport``) injects httpx; with
    neither, an aiohttp session of its own (made on the first call, in the caller's event
    loop). The client closes what it made, never what it was given (:meth:`aclose`)."""

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

    async def post(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes,
        headers: Mapping[str, str],
    ) -> tuple[int, bytes]:
        """POST ``content`` to ``url``; the status and the whole body of the answer."""
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        if self._httpx is not None:
            try:
                response = await self._httpx.post(
                    url, params=params, content=content, headers=headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:
                raise PostFailed(
                    type(exc).__name__, maybe_sent=not isinstance(exc, HTTPX_NOT_SENT)
                ) from exc
            return response.status_code, response.content
        session = self._session or self._open()
        proxy, proxy_auth = self._proxy_for(url)
        try:
            async with session.post(
                url,
                params=params,
                data=content,
                headers=headers,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as answer:
                return answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostFailed(
                type(exc).__name__, maybe_sent=not isinstance(exc, _AIOHTTP_NOT_SENT)
            ) from exc

    def _open(self) -> aiohttp.ClientSession:
        timeout = self._timeout
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None,
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
