"""A fake of WeChat's API server (tokens; customer-service, template and subscription
messages) as ASGI.

For tests, benchmarks and the dev-mode simulator: it issues and checks access tokens the
way WeChat does, records every call, and injects faults on demand (an errcode, an HTTP
status, a delay, a dropped connection). The development default reaches it in process
(:meth:`FakeWeChatAPI.asgi_transport`); tests serve it on loopback with
``testing.servers.serve_wechat_fake`` so callers cross real HTTP. Deliberately not
modelled: rate limits, the 20-a-day cap and 30 s spacing of forced refreshes, other message
types' rules.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = ["FakeWeChatAPI", "RecordedCall"]

_Body = dict[str, Any]
_Handler = Callable[["RecordedCall"], _Body]


@dataclass(slots=True)
class RecordedCall:
    """One request as the fake saw it; ``outcome`` is ``"ok"``, ``"errcode N"``, ``"http N"``
    or ``"dropped"`` once answered (``"pending"`` before)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    json: Any
    outcome: str = "pending"

    @property
    def access_token(self) -> str | None:
        return self.query.get("access_token")


@dataclass(slots=True)
class _Fault:
    remaining: int
    path: str | None
    errcode: int | None
    errmsg: str
    status: int | None
    delay: float
    drop: bool


@dataclass(slots=True)
class _TokenSet:
    """Tokens of one endpoint family; WeChat keeps stable_token and token apart."""

    current: str | None = None
    expires_at: dict[str, float] = field(default_factory=dict)


class _DroppedResponse(Response):
    """Promises a body, sends part of it and returns: uvicorn then closes the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"errco', "more_body": True})


def _error(errcode: int, errmsg: str) -> _Body:
    return {"errcode": errcode, "errmsg": errmsg}


class FakeWeChatAPI:
    """WeChat's API for one account. Configure attributes, read the recorded lists.

    Recorded (in arrival order): ``calls`` (every request), ``token_fetches`` (token requests
    answered with a token), ``custom_messages``, ``template_messages`` and
    ``subscription_messages`` (delivered ones); :meth:`delivered_to` lists them for one
    openid in delivery order (the simulator shows them as pushes). Behaviour:
    ``window_closed`` (openids whose custom sends get 45015), ``custom_quota`` (custom sends
    per openid before 45047), ``template_ids`` (known templates; ``None``: any),
    ``template_refused`` (openids who refuse template messages: 43101), ``subscriptions``
    (``(openid, template id)`` → one-time sends left, ``None`` for long-term; a send
    without one gets 43101, as WeChat answers).
    """

    def __init__(
        self,
        *,
        app_id: str = "wx_fake_app_id",
        app_secret: str = "fake-app-secret",  # noqa: S107 - the fake account's own secret
        expires_in: int = 7200,
        renewal_window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.expires_in = expires_in
        #: stable_token re-serves its token until this many seconds are left, then renews
        #: (the old one stays valid until it expires); /cgi-bin/token keeps the previous
        #: token this long after issuing a new one.
        self.renewal_window = renewal_window
        self.clock = clock
        self.calls: list[RecordedCall] = []
        self.token_fetches: list[RecordedCall] = []
        self.custom_messages: list[RecordedCall] = []
        self.template_messages: list[RecordedCall] = []
        self.subscription_messages: list[RecordedCall] = []
        self.issued_tokens: list[str] = []
        self.window_closed: set[str] = set()
        self.custom_quota: int | None = None
        self.template_ids: set[str] | None = None
        self.template_refused: set[str] = set()
        self.subscriptions: dict[tuple[str, str], int | None] = {}
        #: per openid, in delivery order (a load test asks before every message it sends:
        #: a scan of every push so far made the load generator slower run after run)
        self._delivered: dict[str, list[RecordedCall]] = {}
        self._mutex = threading.Lock()  # the server thread and the test thread share state
        self._faults: list[_Fault] = []
        self._stable = _TokenSet()
        self._legacy = _TokenSet()
        self._token_numbers = itertools.count(1)
        self._msgids = itertools.count(1_000_000_001)
        self._custom_sent: dict[str, int] = {}
        self.app = Starlette(
            routes=[
                Route(
                    "/cgi-bin/stable_token", self._endpoint(self._stable_token), methods=["POST"]
                ),
                Route("/cgi-bin/token", self._endpoint(self._legacy_token), methods=["GET"]),
                Route(
                    "/cgi-bin/message/custom/send",
                    self._endpoint(self._custom_send),
                    methods=["POST"],
                ),
                Route(
                    "/cgi-bin/message/template/send",
                    self._endpoint(self._template_send),
                    methods=["POST"],
                ),
                Route(
                    "/cgi-bin/message/subscribe/bizsend",
                    self._endpoint(self._subscription_send),
                    methods=["POST"],
                ),
            ]
        )

    # -- control ---------------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        path: str | None = None,
        errcode: int | None = None,
        errmsg: str = "injected fault",
        status: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        """The next ``count`` requests (to ``path``, or any) fail this way.

        ``errcode``: HTTP 200 with that errcode; ``status``: that HTTP status; ``drop``: the
        connection closes mid-answer; ``delay`` alone: answer normally after sleeping.
        Faults queue up in the order added.
        """
        if sum(x is not None and x is not False for x in (errcode, status, drop or None)) > 1:
            raise ValueError("choose one of errcode, status, drop")
        with self._mutex:
            self._faults.append(_Fault(count, path, errcode, errmsg, status, delay, drop))

    def invalidate_tokens(self) -> None:
        """Every token issued so far is now unknown (the next use gets errcode 40001)."""
        with self._mutex:
            self._stable = _TokenSet()
            self._legacy = _TokenSet()

    def calls_to(self, path: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.path == path]

    def reset(self) -> None:
        """Forget calls, faults, tokens and per-openid counters; keep the configuration."""
        with self._mutex:
            for recorded in (
                self.calls,
                self.token_fetches,
                self.custom_messages,
                self.template_messages,
                self.subscription_messages,
                self.issued_tokens,
            ):
                recorded.clear()
            self._delivered.clear()
            self._faults.clear()
            self._custom_sent.clear()
            self._stable = _TokenSet()
            self._legacy = _TokenSet()

    def asgi_transport(self) -> httpx.ASGITransport:
        """In-process transport for httpx (no sockets), e.g. for quick benchmarks."""
        return httpx.ASGITransport(app=self.app)

    def delivered_to(self, openid: str) -> list[RecordedCall]:
        """Custom, template and subscription messages delivered to ``openid``, oldest
        first."""
        with self._mutex:
            return list(self._delivered.get(openid, ()))

    def _deliver(self, call: RecordedCall) -> None:
        """Note a delivered message (called with the mutex held)."""
        self._delivered.setdefault(str(call.json.get("touser")), []).append(call)

    # -- request plumbing ------------------------------------------------------------------

    def _endpoint(self, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            try:
                parsed: Any = json.loads(body) if body else None
            except ValueError:
                parsed = None
            call = RecordedCall(
                request.method, request.url.path, dict(request.query_params), body, parsed
            )
            self.calls.append(call)
            fault = self._take_fault(call.path)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop:
                    call.outcome = "dropped"
                    return _DroppedResponse()
                if fault.status is not None:
                    call.outcome = f"http {fault.status}"
                    return Response("injected fault", status_code=fault.status)
                if fault.errcode is not None:
                    call.outcome = f"errcode {fault.errcode}"
                    return JSONResponse(_error(fault.errcode, fault.errmsg))
            with self._mutex:
                answer = handler(call)
            errcode = answer.get("errcode", 0)
            call.outcome = f"errcode {errcode}" if errcode else "ok"
            return JSONResponse(answer)

        return endpoint

    def _take_fault(self, path: str) -> _Fault | None:
        with self._mutex:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- tokens ----------------------------------------------------------------------------

    def _issue(self, tokens: _TokenSet) -> str:
        token = f"FAKE_ACCESS_TOKEN_{next(self._token_numbers):06d}"
        tokens.current = token
        tokens.expires_at[token] = self.clock() + self.expires_in
        self.issued_tokens.append(token)
        return token

    def _credentials_error(self, appid: Any, secret: Any, bad_secret_code: int) -> _Body | None:
        if appid != self.app_id:
            return _error(40013, "invalid appid")
        if secret != self.app_secret:
            return _error(bad_secret_code, "invalid appsecret")
        return None

    def _stable_token(self, call: RecordedCall) -> _Body:
        data = call.json
        if not isinstance(data, dict):
            return _error(47001, "data format error")
        if data.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._credentials_error(data.get("appid"), data.get("secret"), 40125)
        if refused is not None:
            return refused
        now = self.clock()
        current = self._stable.current
        left = self._stable.expires_at.get(current, now) - now if current else 0.0
        if data.get("force_refresh") is True:
            # Forcing invalidates the previous token at once (unlike a normal renewal).
            self._stable.expires_at.pop(current or "", None)
            current = self._issue(self._stable)
            left = self.expires_in
        elif left <= self.renewal_window:
            current = self._issue(self._stable)
            left = self.expires_in
        self.token_fetches.append(call)
        return {"access_token": current, "expires_in": int(left)}

    def _legacy_token(self, call: RecordedCall) -> _Body:
        query = call.query
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._credentials_error(query.get("appid"), query.get("secret"), 40001)
        if refused is not None:
            return refused
        previous = self._legacy.current
        token = self._issue(self._legacy)
        if previous is not None and previous in self._legacy.expires_at:
            # Each fetch retires the previous token after a short overlap.
            grace_end = self.clock() + self.renewal_window
            self._legacy.expires_at[previous] = min(self._legacy.expires_at[previous], grace_end)
        self.token_fetches.append(call)
        return {"access_token": token, "expires_in": self.expires_in}

    def _token_error(self, call: RecordedCall) -> _Body | None:
        token = call.access_token
        if not token:
            return _error(41001, "access_token missing")
        expires_at = self._stable.expires_at.get(token, self._legacy.expires_at.get(token))
        if expires_at is None:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if expires_at <= self.clock():
            return _error(42001, "access_token expired")
        return None

    # -- messages --------------------------------------------------------------------------

    def _message_error(self, call: RecordedCall) -> _Body | None:
        """What WeChat refuses any message send for: the token, the body, the openid."""
        refused = self._token_error(call)
        if refused is not None:
            return refused
        data = call.json
        if not isinstance(data, dict):
            return _error(47001, "data format error")
        openid = data.get("touser")
        if not isinstance(openid, str) or not openid:
            return _error(40003, "invalid openid")
        return None

    def _custom_send(self, call: RecordedCall) -> _Body:
        refused = self._message_error(call)
        if refused is not None:
            return refused
        data = call.json
        openid = data["touser"]
        if data.get("msgtype") == "text":
            text = data.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("content"), str):
                return _error(47001, "data format error")
        if openid in self.window_closed:
            return _error(45015, "response out of time limit or subscription is canceled")
        sent = self._custom_sent.get(openid, 0)
        if self.custom_quota is not None and sent >= self.custom_quota:
            return _error(45047, "out of response count limit")
        self._custom_sent[openid] = sent + 1
        self.custom_messages.append(call)
        self._deliver(call)
        return _error(0, "ok")

    def _template_send(self, call: RecordedCall) -> _Body:
        refused = self._message_error(call)
        if refused is not None:
            return refused
        data = call.json
        template_id = data.get("template_id")
        if not isinstance(template_id, str) or (
            self.template_ids is not None and template_id not in self.template_ids
        ):
            return _error(40037, "invalid template_id")
        fields = data.get("data")
        if not isinstance(fields, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in fields.values()
        ):
            return _error(47001, "data format error")
        if data["touser"] in self.template_refused:
            return _error(43101, "user refuse to accept the msg")
        self.template_messages.append(call)
        self._deliver(call)
        return {"errcode": 0, "errmsg": "ok", "msgid": next(self._msgids)}

    def _subscription_send(self, call: RecordedCall) -> _Body:
        refused = self._message_error(call)
        if refused is not None:
            return refused
        data = call.json
        template_id = data.get("template_id")
        fields = data.get("data")
        if not isinstance(template_id, str) or not isinstance(fields, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in fields.values()
        ):
            return _error(47003, "argument invalid")
        key = (data["touser"], template_id)
        if key not in self.subscriptions:
            return _error(43101, "user refuse to accept the msg")
        left = self.subscriptions[key]
        if left is not None:  # one-time: each subscription allows one send
            if left <= 1:
                del self.subscriptions[key]
            else:
                self.subscriptions[key] = left - 1
        self.subscription_messages.append(call)
        self._deliver(call)
        return _error(0, "ok")
