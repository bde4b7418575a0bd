"""The SMS hook: the last step of a status push, an operator's webhook to their SMS gateway.

Off unless ``INTAKE_SMS_HOOK_URL`` is set. One JSON POST per push::

    {"push_id": 42, "ticket_id": "20261203-0001", "ticket_status": "resolved",
     "phone": "13800138000", "text": "您反映的…", "idempotency_key": "intake-push-42"}

with ``Idempotency-Key`` (the same value) and, when ``INTAKE_SMS_HOOK_SECRET`` is set,
``X-Intake-Signature: sha256=<hex HMAC-SHA256 of the body>``. A 2xx answer means the gateway
took the message; 4xx (but 408/429) is a refusal; 5xx, 408, 429 and failed connections are
transient (the push is retried later); an answer lost after the request went out is in
doubt (:class:`SmsInDoubt`: not sent again by itself).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

import httpx

from core.errors import RemoteServiceError
from integrations.http_calls import HTTPX_NOT_SENT

__all__ = ["SmsFailed", "SmsHook", "SmsInDoubt", "SmsMessage", "SmsRefused"]


class SmsFailed(RemoteServiceError):
    """The hook did not take the message this time (retry later)."""


class SmsRefused(SmsFailed):
    """The hook refused the message (a 4xx answer); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SmsInDoubt(SmsFailed):
    """The request went out but no answer came: the gateway may have sent it."""


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One status push for the gateway."""

    push_id: int
    ticket_id: str
    ticket_status: str
    phone: str
    text: str


class SmsHook:
    """Posts status pushes to the operator's SMS hook (a connection per send: the hook is
    the rare last step, and nothing needs closing)."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"SmsHook(url={self.url!r})"

    async def send(self, message: SmsMessage) -> None:
        """Hand ``message`` to the hook; raises :class:`SmsRefused`, :class:`SmsInDoubt`
        or :class:`SmsFailed`."""
        key = f"intake-push-{message.push_id}"
        body = json.dumps(
            {
                "push_id": message.push_id,
                "ticket_id": message.ticket_id,
                "ticket_status": message.ticket_status,
                "phone": message.phone,
                "text": message.text,
                "idempotency_key": key,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key}
        if self._secret:
            digest = hmac.new(self._secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Intake-Signature"] = f"sha256={digest}"
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport
            ) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except HTTPX_NOT_SENT as exc:
            raise SmsFailed(f"SMS hook: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise SmsInDoubt(f"SMS hook: {type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise SmsRefused(f"SMS hook: HTTP {status}", status)
        raise SmsFailed(f"SMS hook: HTTP {status}")
