"""Posting JSON to an operator's webhook, signed with a shared secret.

One scheme for every webhook of the product (analytics alerts, ticket warnings): the body
is UTF-8 JSON, one item per request; with a secret, ``X-Intake-Signature:
sha256=<hex HMAC-SHA256 of the body>`` lets the receiver check it came from us. A failed
post is an error string (never an exception), which the caller records and retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from privacy import mask_text

__all__ = ["post_json", "signature"]


def signature(secret: str | None, body: bytes) -> str | None:
    """``sha256=<hex HMAC>`` of ``body`` under ``secret`` (``None`` without one)."""
    if not secret:
        return None
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str | None:
    """POST ``payload`` to ``url``; ``None`` when it was taken (2xx), else why not
    (``HTTP 503``, ``ConnectError: …`` with personal numbers masked)."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    signed = signature(secret, body)
    if signed:
        sent["X-Intake-Signature"] = signed
    try:
        response = await client.post(url, content=body, headers=sent)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {mask_text(str(exc))[:200]}"
    if response.status_code >= 300:
        return f"HTTP {response.status_code}"
    return None
