"""The baseline of bench_channel.py: a bare FastAPI endpoint that only parses the XML and
replies, with none of the channel's checks, dedup, locks, FSM or routing."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from bot.wechat.xml import parse_xml, render_text_reply

app = FastAPI()


@app.post("/wechat")
async def wechat(request: Request) -> Response:
    fields = parse_xml(await request.body())
    xml = render_text_reply(str(fields["FromUserName"]), str(fields["ToUserName"]), "收到")
    return Response(xml, media_type="application/xml")
