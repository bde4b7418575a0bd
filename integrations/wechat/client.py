"""Async client of the WeChat Official Account API (customer-service, template and
subscription messages).

Every request has explicit timeouts, transient failures (network errors, timeouts, HTTP 5xx,
errcode -1) are retried with exponential backoff, a rejected access_token is refreshed once
and the call repeated, and WeChat's errcodes become typed exceptions. Sends are therefore
at-least-once by default: a retried send whose first answer was lost can reach the resident
twice. A caller that must never send twice (status pushes) passes ``retry_in_doubt=False``:
then a send whose request may have reached WeChat is not repeated, and the error says so
(:attr:`WeChatNetworkError.in_doubt`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from integrations.http_calls import CallFailed, ClosesItsCalls, HTTPCalls
from integrations.state import KeyValueStore
from integrations.wechat.errors import (
    SYSTEM_BUSY,
    TOKEN_INVALID_ERRCODES,
    CustomerServiceWindowClosed,
    WeChatAPIError,
    WeChatError,
    WeChatNetworkError,
    api_error,
)
from integrations.wechat.redact import install_httpx_log_redaction
from integrations.wechat.retry import RetryPolicy
from integrations.wechat.token import AccessTokenCache
from privacy import mask_openid

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "WeChatClient"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
#: WeChat normally answers in well under a second; a stuck call must not hold a worker long.
DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=5.0, write=5.0, pool=3.0)

_JSON = {"Content-Type": "application/json; charset=utf-8"}


class WeChatClient(ClosesItsCalls):
    """One Official Account's API client; share one per process, close it on shutdown.

    It talks aiohttp (:mod:`integrations.http_calls`); ``http_client`` (or ``transport``)
    injects an httpx layer instead (the development fake, tests), and an injected client is not
    closed by :meth:`aclose`. The access_token lives in ``store`` so all processes share it.
    """

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        store: KeyValueStore,
        base_url: str = DEFAULT_BASE_URL,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        token_safety_margin: float = 300.0,
        token_lock_timeout: float = 30.0,
    ) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"WeChat API base URL must be http(s)://host, got {base_url!r}")
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url
        self._retry = retry or RetryPolicy()
        self._http = HTTPCalls(
            timeout=httpx.Timeout(timeout), http_client=http_client, transport=transport
        )
        self.tokens = AccessTokenCache(
            store,
            app_id,
            self._fetch_token,
            safety_margin=token_safety_margin,
            lock_timeout=token_lock_timeout,
        )
        install_httpx_log_redaction()

    def __repr__(self) -> str:
        return f"WeChatClient(app_id={self.app_id!r}, base_url={self.base_url!r})"

    async def send_text(
        self, openid: str, content: str, *, retry_in_doubt: bool = True
    ) -> None:
        """Customer-service text message; only within 48h of the resident's last message.

        Raises :class:`CustomerServiceWindowClosed` when WeChat refuses for that reason.
        """
        payload = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        try:
            await self.api_post(
                "/cgi-bin/message/custom/send", payload, retry_in_doubt=retry_in_doubt
            )
        except CustomerServiceWindowClosed as exc:
            log.info("customer-service window closed for %s (%s)", mask_openid(openid), exc)
            raise
        log.debug("sent customer-service text to %s", mask_openid(openid))

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        url: str | None = None,
        *,
        retry_in_doubt: bool = True,
    ) -> int:
        """Template message (works outside the 48h window); returns WeChat's ``msgid``."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url is not None:
            payload["url"] = url
        body = await self.api_post(
            "/cgi-bin/message/template/send", payload, retry_in_doubt=retry_in_doubt
        )
        msgid = body.get("msgid")
        if not isinstance(msgid, int):
            raise WeChatNetworkError("template send answer has no integer msgid")
        log.debug("sent template %s to %s, msgid %d", template_id, mask_openid(openid), msgid)
        return msgid

    async def send_subscription(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        page: str | None = None,
        retry_in_doubt: bool = True,
    ) -> None:
        """Subscription message (订阅通知, ``/cgi-bin/message/subscribe/bizsend``): reaches
        the resident only while they have subscribed to ``template_id``; errcode 43101
        otherwise (a one-time subscription is used up by one send)."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if page is not None:
            payload["page"] = page
        await self.api_post(
            "/cgi-bin/message/subscribe/bizsend", payload, retry_in_doubt=retry_in_doubt
        )
        log.debug("sent subscription message %s to %s", template_id, mask_openid(openid))

    async def api_post(
        self, path: str, payload: Mapping[str, Any], *, retry_in_doubt: bool = True
    ) -> dict[str, Any]:
        """POST ``payload`` to ``path`` with the access_token; the answer when errcode is 0.

        A rejected token (40001/40014/42001) is refreshed once and the call repeated.
        ``retry_in_doubt=False``: a failure after which WeChat may have acted is not retried.
        """
        token = await self.tokens.get()
        try:
            return await self._post(
                path, payload, access_token=token, retry_in_doubt=retry_in_doubt
            )
        except WeChatAPIError as exc:
            if exc.errcode not in TOKEN_INVALID_ERRCODES:
                raise
            log.warning("WeChat rejected the access_token on %s (%s); refreshing", path, exc)
        token = await self.tokens.refresh(rejected=token)
        return await self._post(path, payload, access_token=token, retry_in_doubt=retry_in_doubt)

    async def _fetch_token(self, force_refresh: bool) -> tuple[str, int]:
        payload = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        body = await self._post("/cgi-bin/stable_token", payload, access_token=None)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatNetworkError("stable_token answer lacks access_token/expires_in")
        return token, expires_in

    async def _post(
        self,
        path: str,
        payload: Mapping[str, Any],
        *,
        access_token: str | None,
        retry_in_doubt: bool = True,
    ) -> dict[str, Any]:
        """One logical call with retries; raises the typed error of the last failure."""
        params = {"access_token": access_token} if access_token is not None else None
        # WeChat shows \\uXXXX escapes literally in some messages, so send raw UTF-8.
        content = json.dumps(payload, ensure_ascii=False).encode()
        token_endpoint = access_token is None
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await self._post_once(path, params, content, token_endpoint)
            except (WeChatNetworkError, WeChatAPIError) as exc:
                if not _retryable(exc) or attempt == self._retry.attempts:
                    raise
                if not retry_in_doubt and isinstance(exc, WeChatNetworkError) and exc.in_doubt:
                    raise
                delay = self._retry.delay(attempt)
                log.warning(
                    "WeChat %s failed (%s); retry %d/%d in %.2fs",
                    path,
                    exc,
                    attempt,
                    self._retry.attempts - 1,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _post_once(
        self,
        path: str,
        params: dict[str, str] | None,
        content: bytes,
        token_endpoint: bool,
    ) -> dict[str, Any]:
        try:
            answer = await self._http.call(
                "POST", self.base_url + path, params=params, content=content, headers=_JSON
            )
        except CallFailed as exc:
            # The failure's kind only: an HTTP library's text may carry the URL (token).
            raise WeChatNetworkError(f"{path}: {exc.kind}", in_doubt=exc.maybe_sent) from exc
        if answer.status != 200:
            raise WeChatNetworkError(f"{path}: HTTP {answer.status}", status_code=answer.status)
        try:
            body = json.loads(answer.body)
        except ValueError as exc:
            raise WeChatNetworkError(f"{path}: answer is not JSON", in_doubt=True) from exc
        if not isinstance(body, dict):
            raise WeChatNetworkError(f"{path}: answer is not a JSON object", in_doubt=True)
        errcode = body.get("errcode", 0)
        if not isinstance(errcode, int):
            raise WeChatNetworkError(f"{path}: errcode is not an integer", in_doubt=True)
        if errcode != 0:
            errmsg = str(body.get("errmsg", ""))
            raise api_error(errcode, errmsg, token_endpoint=token_endpoint)
        return body


def _retryable(exc: WeChatError) -> bool:
    """Transient failures only: another errcode would just fail the same way again."""
    if isinstance(exc, WeChatAPIError):
        return exc.errcode == SYSTEM_BUSY
    if isinstance(exc, WeChatNetworkError) and exc.status_code is not None:
        return exc.status_code >= 500 or exc.status_code == 429
    return isinstance(exc, WeChatNetworkError)
