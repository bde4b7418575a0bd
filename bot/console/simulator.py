"""模拟器: chat with the bot as a resident, in a phone-shaped page.

Every message takes the real path: the server signs it exactly as WeChat would (and
encrypts it in safe mode) with :class:`bot.wechat.simulator.CallbackSigner`, posts it to the
app's own ``/wechat`` endpoint through the ASGI stack, and hands back the passive reply.
Pushes (late replies, staff replies, ticket status changes) go to WeChat's API; when that is
a fake in this process (the development default, or the tests' fake) the page polls what it
recorded for the resident.

On a development machine anyone may use it. With ``INTAKE_ENV=production`` it requires a
console login. Simulated residents always have ``sim-`` openids, so nobody can speak as a
real resident (and see their tickets) through it.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from bot.api.bounds import LineAfter
from bot.console.context import Console
from bot.console.security import LoginRequired, client_ip, current_session, require_staff
from bot.wechat.security import AESEnvelope
from bot.wechat.simulator import CallbackRequest, CallbackSigner, reply_text
from integrations.accounts import ConsoleSession
from integrations.wechat.fake_server import FakeWeChatAPI, RecordedCall

__all__ = ["MENU", "build_simulator_router", "push_text"]

#: the service account's menu (event keys the dialogue policy understands)
MENU = (("MENU_REPORT", "我要反映"), ("MENU_STATUS", "办理进度"), ("MENU_HUMAN", "人工服务"))
MAX_TEXT = 600
MAX_LABEL = 100
#: messages per minute, per simulated resident and per browser address
PER_OPENID = 30
PER_ADDRESS = 120
_OPENID_RE = re.compile(r"^sim-[A-Za-z0-9_-]{8,48}$")
_NO_PUSHES = "现在连接的是真实的微信接口，推送消息会发到居民的微信里，这里无法显示。"


def push_text(call: RecordedCall) -> str:
    """What the resident sees of a customer-service, template or subscription message."""
    data = call.json if isinstance(call.json, dict) else {}
    if call.path.endswith(("/template/send", "/subscribe/bizsend")):
        fields = data.get("data") or {}
        return "\n".join(
            str(v.get("value", "")) for v in fields.values() if isinstance(v, dict)
        ).strip()
    if data.get("msgtype") == "text":
        return str((data.get("text") or {}).get("content", ""))
    return f"[{data.get('msgtype', '消息')}]"


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def simulator_access(request: Request) -> ConsoleSession | None:
    """Production: a console login (and its CSRF token). Development: anyone, but an unsafe
    request must come from this site (checked by the endpoint: a JSON body cannot be posted
    cross-site without the browser asking first, and a foreign ``Origin`` is refused)."""
    console: Console = request.app.state.console
    if console.runtime.settings.production:
        try:
            return await require_staff(request)
        except LoginRequired as exc:
            if request.url.path.startswith("/simulator/api/"):
                raise LoginRequired(exc.next_url, api=True) from None
            raise
    session = await current_session(request)
    if session is not None:
        request.state.console_session = session  # the page shows the console's menu
    return session


# Module level: FastAPI resolves the annotation by name in this module's globals.
Access = Annotated[ConsoleSession | None, Depends(simulator_access)]


def build_simulator_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    runtime = console.runtime
    settings = runtime.settings
    assert settings.wechat.token and settings.wechat.app_id
    envelope = (
        AESEnvelope(settings.wechat.token, settings.wechat.encoding_aes_key, settings.wechat.app_id)
        if settings.wechat.encoding_aes_key
        else None
    )
    signer = CallbackSigner(settings.wechat.token, envelope=envelope)

    def foreign(request: Request) -> JSONResponse | None:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            return _error("请求来源不对，已拒绝", 403)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error("请以 JSON 发送", 415)
        return None

    async def limited(request: Request, openid: str) -> bool:
        store = runtime.store
        per_openid = await store.incr(f"sim:rate:openid:{openid}", ttl=60.0)
        per_address = await store.incr(f"sim:rate:ip:{client_ip(request)}", ttl=60.0)
        return per_openid > PER_OPENID or per_address > PER_ADDRESS

    async def event_time(openid: str) -> int:
        """WeChat tells events apart by sender and second: two clicks in one second must not
        look like a retry of the first, so each gets a later second than the last."""
        key = f"sim:event-time:{openid}"
        last = int(await runtime.store.get(key) or 0)
        now = max(int(time.time()), last + 1)
        await runtime.store.set(key, str(now).encode(), ttl=120.0)
        return now

    def fake() -> FakeWeChatAPI | None:
        return runtime.dev_wechat

    @router.get("/simulator", response_class=HTMLResponse)
    async def page(request: Request, session: Access) -> HTMLResponse:
        return console.render(
            request,
            "simulator.html",
            menu=MENU,
            max_text=MAX_TEXT,
            pushes_visible=fake() is not None,
            production=settings.production,
            encrypted=envelope is not None,
        )

    async def build(
        payload: dict[str, Any], openid: str
    ) -> tuple[CallbackRequest, str | None] | JSONResponse:
        """The signed callback for the payload, and its ``MsgId`` (events have none)."""
        msg_id = signer.next_msg_id()
        text = payload.get("text")
        if isinstance(text, str):
            text = text.strip()
            if not text:
                return _error("请输入内容", 400)
            if len(text) > MAX_TEXT:
                return _error(f"一条消息请不要超过 {MAX_TEXT} 个字", 413)
            return signer.text(openid, text, msg_id=msg_id), msg_id
        event = payload.get("event")
        if event == "subscribe":
            return signer.event(openid, "subscribe", create_time=await event_time(openid)), None
        if event == "click":
            key = payload.get("key")
            if key not in dict(MENU):
                return _error("没有这个菜单", 400)
            created = await event_time(openid)
            return signer.event(openid, "CLICK", str(key), create_time=created), None
        location = payload.get("location")
        if isinstance(location, dict):
            label = location.get("label")
            lat, lon = location.get("latitude"), location.get("longitude")
            if (
                not isinstance(label, str)
                or not label.strip()
                or len(label) > MAX_LABEL
                or not isinstance(lat, int | float)
                or not isinstance(lon, int | float)
                or not (-90 <= lat <= 90 and -180 <= lon <= 180)
            ):
                return _error("位置信息不完整", 400)
            located = signer.location(openid, label.strip(), float(lat), float(lon), msg_id=msg_id)
            return located, msg_id
        return _error("请发送文字、菜单或位置", 400)

    @router.post("/simulator/api/send")
    async def send(request: Request, session: Access) -> JSONResponse:
        refused = foreign(request)
        if refused is not None:
            return refused
        try:
            payload = await request.json()
        except ValueError:
            return _error("请求格式不对", 400)
        if not isinstance(payload, dict):
            return _error("请求格式不对", 400)
        openid = payload.get("openid")
        if not isinstance(openid, str) or not _OPENID_RE.match(openid):
            return _error("模拟居民的编号不对，请刷新页面", 400)
        built = await build(payload, openid)
        if isinstance(built, JSONResponse):
            return built
        callback, msg_id = built
        if await limited(request, openid):
            return _error("发得太快了，请稍等一分钟再试", 429)
        # Through the whole ASGI stack, exactly as WeChat's request would arrive.
        transport = httpx.ASGITransport(app=request.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://simulator.internal", timeout=30
        ) as client:
            response = await client.post("/wechat", params=callback.params, content=callback.body)
        if response.status_code != 200:
            return _error(f"公众号接口没有接受这条消息（HTTP {response.status_code}）", 502)
        reply = reply_text(response.text, envelope)
        return JSONResponse(
            {
                "reply": reply,
                # No passive reply in time: the answer (if any) comes later as a push.
                "pending": reply is None,
                "msg_id": msg_id,
                "encrypted": callback.params.get("encrypt_type") == "aes",
            }
        )

    @router.get("/simulator/api/pushes")
    async def pushes(
        request: Request, session: Access, openid: str = "", after: LineAfter = 0
    ) -> JSONResponse:
        if not _OPENID_RE.match(openid):
            return _error("模拟居民的编号不对，请刷新页面", 400)
        source = fake()
        if source is None:
            return JSONResponse({"available": False, "message": _NO_PUSHES, "pushes": []})
        delivered = source.delivered_to(openid)
        start = min(max(after, 0), len(delivered))  # a restarted fake starts again at 0
        items = [
            {"n": n, "text": push_text(call)}
            for n, call in enumerate(delivered[start : start + 50], start=start)
        ]
        return JSONResponse(
            {
                "available": True,
                "pushes": items,
                "next": start + len(items),
                "total": len(delivered),
            }
        )

    return router
