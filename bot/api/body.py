"""Reading request bodies with a size limit, before anything is buffered past it."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["BodyTooLarge", "read_limited_body"]


class BodyTooLarge(Exception):
    """The request body exceeds the limit (answer 413)."""


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The body, refusing a declared or streamed (chunked) size over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
