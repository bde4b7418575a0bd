"""The HTTP client an API client (WeChat's, an Open311 server's) talks through, and the one
rule about closing it: close the client you made, never one you were given."""

from __future__ import annotations

from typing import Any, Self

import httpx

__all__ = ["HTTPX_NOT_SENT", "OwnedHTTPClient"]

#: httpx's transport failures that prove the request never left (no connection made):
#: what may be sent again without doubt.
HTTPX_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class OwnedHTTPClient:
    """Base of the API clients: ``http_client`` (or ``transport``) lets tests and the app
    inject the HTTP layer; an injected client is not closed by :meth:`aclose`."""

    _http: httpx.AsyncClient
    _owns_http: bool

    def _use_http(
        self,
        http_client: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | None,
        **client_options: Any,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, **client_options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()
