"""Residents' photos fetched from WeChat's media servers, for the console to show.

Staff browsers never load an image from a remote address (the console's CSP allows
``img-src 'self' data:``): a photo a resident sent is a ``PicUrl`` on WeChat's image CDN,
and a forged message could put any address there — one that logs who looks at it, from
where, and when. The console shows such a photo through its own origin instead, fetched
here with narrow rules:

- only ``http(s)`` addresses on :data:`WECHAT_MEDIA_HOSTS` (WeChat's image hosts); anything
  else is not fetched at all (:func:`is_wechat_media`);
- always over HTTPS, no redirects followed, 10 s at most;
- at most :data:`MAX_PHOTO_BYTES` (5 MiB), read in a stream and abandoned past it;
- the bytes must be a JPEG, PNG, GIF or WebP image by their signature (the type is taken
  from the bytes, never from the remote's ``Content-Type``).

Whatever breaks a rule raises :class:`PhotoUnavailable` with a reason for the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from core.errors import RemoteServiceError

__all__ = [
    "MAX_PHOTO_BYTES",
    "WECHAT_MEDIA_HOSTS",
    "Photo",
    "PhotoFetcher",
    "PhotoUnavailable",
    "is_wechat_media",
]

#: WeChat's image CDN hosts (message photos ``PicUrl``, avatars, article images).
WECHAT_MEDIA_HOSTS = frozenset(
    {"mmbiz.qpic.cn", "mmbiz.qlogo.cn", "mmsns.qpic.cn", "wx.qlogo.cn", "thirdwx.qlogo.cn"}
)
MAX_PHOTO_BYTES = 5 * 1024 * 1024
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class PhotoUnavailable(RemoteServiceError):
    """The photo cannot be shown (not a WeChat address, unreachable, too big, not an image)."""


@dataclass(frozen=True, slots=True)
class Photo:
    """An image's bytes and its type, as read from its signature."""

    content: bytes
    media_type: str


def is_wechat_media(url: str, hosts: frozenset[str] = WECHAT_MEDIA_HOSTS) -> bool:
    """Whether ``url`` is an ``http(s)`` address on one of ``hosts`` (no port, no user)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and parts.username is None
        and parts.port is None
        and (parts.hostname or "") in hosts
    )


def _image_type(head: bytes) -> str | None:
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class PhotoFetcher:
    """Fetches allowed photos; ``transport`` lets tests stand in for WeChat's CDN."""

    def __init__(
        self,
        *,
        hosts: frozenset[str] = WECHAT_MEDIA_HOSTS,
        max_bytes: int = MAX_PHOTO_BYTES,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.hosts = hosts
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._transport = transport

    def allowed(self, url: str) -> bool:
        return is_wechat_media(url, self.hosts)

    async def fetch(self, url: str) -> Photo:
        if not self.allowed(url):
            raise PhotoUnavailable("not an address on WeChat's media hosts")
        secure = urlunsplit(urlsplit(url)._replace(scheme="https", fragment=""))
        async with httpx.AsyncClient(
            transport=self._transport, timeout=self.timeout, follow_redirects=False
        ) as client:
            try:
                async with client.stream("GET", secure) as response:
                    if response.status_code != 200:
                        raise PhotoUnavailable(f"HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.max_bytes:
                        raise PhotoUnavailable("larger than the limit")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise PhotoUnavailable("larger than the limit")
                        chunks.append(chunk)
            except httpx.HTTPError as exc:
                raise PhotoUnavailable(type(exc).__name__) from None
        content = b"".join(chunks)
        media_type = _image_type(content[:16])
        if media_type is None:
            raise PhotoUnavailable("not a JPEG, PNG, GIF or WebP image")
        return Photo(content, media_type)
