"""``intake chat``: talk to the bot in the terminal as a resident.

Every line is signed like WeChat signs it and posted to the app's ``/wechat`` endpoint
in-process, so it takes exactly the path a WeChat message takes. Pushed messages (late
replies, status changes) are printed as they reach the WeChat API.
"""

from __future__ import annotations

import asyncio
import sys

import httpx

from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime
from bot.wechat.security import AESEnvelope
from bot.wechat.simulator import CallbackRequest, CallbackSigner, reply_text

__all__ = ["run_chat"]

HELP = """输入文字即可对话。特殊命令：
  /voice 文字        以语音识别结果发送
  /location 地址     发送一个位置
  /image             发送一张照片
  /subscribe         关注公众号
  /quit              退出"""


def _request(signer: CallbackSigner, openid: str, line: str) -> CallbackRequest | None:
    command, _, rest = line.partition(" ")
    if command == "/voice":
        return signer.voice(openid, rest)
    if command == "/location":
        return signer.location(openid, rest or "当前位置", 39.9042, 116.4074)
    if command == "/image":
        return signer.image(openid, "http://example.invalid/photo.jpg")
    if command == "/subscribe":
        return signer.event(openid, "subscribe")
    if command.startswith("/"):
        return None
    return signer.text(openid, line)


async def run_chat(settings: Settings, *, openid: str) -> int:
    runtime = Runtime.from_settings(settings)
    app = create_app(settings, runtime=runtime)
    envelope = None
    if settings.wechat.encoding_aes_key and settings.wechat.token and settings.wechat.app_id:
        envelope = AESEnvelope(
            settings.wechat.token, settings.wechat.encoding_aes_key, settings.wechat.app_id
        )
    assert settings.wechat.token
    signer = CallbackSigner(settings.wechat.token, envelope=envelope)
    pushed_seen = 0
    print(HELP, flush=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            while True:
                try:
                    line = await asyncio.to_thread(input, "我> ")
                except EOFError:
                    break
                line = line.strip()
                if line in ("/quit", "/exit"):
                    break
                if not line:
                    continue
                request = _request(signer, openid, line)
                if request is None:
                    print(HELP)
                    continue
                response = await client.post("/wechat", params=request.params, content=request.body)
                if response.status_code != 200:
                    print(f"[HTTP {response.status_code}] {response.text}", file=sys.stderr)
                    continue
                text = reply_text(response.text, envelope)
                if text:
                    print("机器人> " + text.replace("\n", "\n        "), flush=True)
                fake = runtime.dev_wechat
                if fake is not None:
                    await asyncio.sleep(0)  # let late pushes that are ready land first
                    for call in fake.custom_messages[pushed_seen:]:
                        content = (call.json or {}).get("text", {}).get("content", "")
                        print("机器人(推送)> " + content, flush=True)
                    pushed_seen = len(fake.custom_messages)
    return 0
