"""The other side of the callback: build requests exactly as WeChat's servers sign them.

Used by ``intake chat``, the benchmarks, the web simulator and the tests, so every one of
them goes through the real signed ``/wechat`` path.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.wechat.security import AESEnvelope, sha1_signature
from bot.wechat.xml import parse_xml

__all__ = ["CallbackRequest", "CallbackSigner", "reply_text"]

_msg_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """Query parameters and body of one POST to ``/wechat``."""

    params: dict[str, str]
    body: bytes


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class CallbackSigner:
    """Signs callback requests for one account; encrypts them when an envelope is given."""

    def __init__(
        self,
        token: str,
        *,
        account: str = "gh_intake",
        envelope: AESEnvelope | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.account = account
        self.envelope = envelope
        self.clock = clock

    @staticmethod
    def next_msg_id() -> str:
        return str(next(_msg_ids))

    def message_xml(self, openid: str, msg_type: str, create_time: int, **fields: str) -> str:
        parts = [
            f"<ToUserName>{_cdata(self.account)}</ToUserName>",
            f"<FromUserName>{_cdata(openid)}</FromUserName>",
            f"<CreateTime>{create_time}</CreateTime>",
            f"<MsgType>{_cdata(msg_type)}</MsgType>",
        ]
        for name, value in fields.items():
            parts.append(f"<{name}>{_cdata(value)}</{name}>")
        return "<xml>" + "".join(parts) + "</xml>"

    def sign(
        self, xml: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> CallbackRequest:
        """Plain mode: ``signature`` over token/timestamp/nonce; safe mode: AES + msg_signature."""
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(6)
        params = {
            "timestamp": ts,
            "nonce": nonce,
            "signature": sha1_signature(self.token, ts, nonce),
        }
        if self.envelope is None:
            return CallbackRequest(params, xml.encode())
        envelope_xml = self.envelope.encrypt(xml, nonce=nonce, timestamp=ts)
        fields = parse_xml(envelope_xml)
        encrypted = str(fields["Encrypt"])
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sha1_signature(self.token, ts, nonce, encrypted)
        body = (
            f"<xml><ToUserName>{_cdata(self.account)}</ToUserName>"
            f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
        )
        return CallbackRequest(params, body.encode())

    def text(self, openid: str, content: str, *, msg_id: str | None = None) -> CallbackRequest:
        return self.sign(
            self.message_xml(
                openid,
                "text",
                int(self.clock()),
                Content=content,
                MsgId=msg_id or self.next_msg_id(),
            )
        )

    def voice(self, openid: str, recognition: str, *, msg_id: str | None = None) -> CallbackRequest:
        return self.sign(
            self.message_xml(
                openid,
                "voice",
                int(self.clock()),
                MediaId="media-" + secrets.token_hex(4),
                Format="amr",
                Recognition=recognition,
                MsgId=msg_id or self.next_msg_id(),
            )
        )

    def location(
        self,
        openid: str,
        label: str,
        latitude: float,
        longitude: float,
        *,
        msg_id: str | None = None,
    ) -> CallbackRequest:
        xml = self.message_xml(
            openid, "location", int(self.clock()), MsgId=msg_id or self.next_msg_id()
        )
        extra = (
            f"<Location_X>{latitude}</Location_X><Location_Y>{longitude}</Location_Y>"
            f"<Scale>16</Scale><Label>{_cdata(label)}</Label>"
        )
        return self.sign(xml.replace("</xml>", extra + "</xml>"))

    def image(self, openid: str, pic_url: str, *, msg_id: str | None = None) -> CallbackRequest:
        return self.sign(
            self.message_xml(
                openid,
                "image",
                int(self.clock()),
                PicUrl=pic_url,
                MediaId="media-" + secrets.token_hex(4),
                MsgId=msg_id or self.next_msg_id(),
            )
        )

    def event(
        self, openid: str, event: str, key: str = "", *, create_time: int | None = None
    ) -> CallbackRequest:
        fields = {"Event": event}
        if key:
            fields["EventKey"] = key
        return self.sign(
            self.message_xml(openid, "event", create_time or int(self.clock()), **fields)
        )


def reply_text(body: str | bytes, envelope: AESEnvelope | None = None) -> str | None:
    """The ``Content`` of a passive reply (decrypting it in safe mode); None for ``success``."""
    text = body.decode() if isinstance(body, bytes) else body
    if text in ("", "success"):
        return None
    fields = parse_xml(text)
    if "Encrypt" in fields and envelope is not None:
        signature = str(fields.get("MsgSignature", ""))
        fields = parse_xml(
            envelope.decrypt(
                str(fields["Encrypt"]),
                msg_signature=signature,
                timestamp=str(fields.get("TimeStamp", "")),
                nonce=str(fields.get("Nonce", "")),
            )
        )
    content = fields.get("Content")
    return content if isinstance(content, str) else None
