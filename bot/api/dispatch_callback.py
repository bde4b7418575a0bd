"""Inbound status webhook: dispatch systems that push call ``POST /api/dispatch/callback``.

Body (JSON)::

    {"event_id": "evt-1", "ticket_id": "T20240501-0001" | null, "external_id": "638344" | null,
     "status": "in_progress", "note": "工人已出发", "occurred_at": "2024-05-01T10:00:00+08:00"}

At least one of ``ticket_id`` / ``external_id``; ``status`` is one of ours (received,
dispatched, in_progress, resolved, closed, reopened, rejected); ``note`` and ``occurred_at``
(ISO 8601 with offset) may be left out.

Authentication: ``X-Intake-Timestamp`` (unix seconds) and ``X-Intake-Signature:
sha256=<hex>``, the lowercase hex HMAC-SHA256 of ``"{timestamp}.{raw body}"`` keyed with the
shared secret (see :func:`sign_callback`). The signature covers the body exactly as sent, and
the timestamp must be within ±``window`` (300 s) of our clock, so a captured call cannot be
replayed later; within the window a replay is caught by ``event_id``.

Answers: 200 ``{"ok": true, "duplicate": false}``; a repeated ``event_id`` → 200
``{"ok": true, "duplicate": true}`` and nothing changes; missing or bad signature, bad or
stale timestamp → 401; body not JSON → 400; bad fields or unknown status → 422; unknown
ticket → 404 (the event is forgotten so a retry after the ticket exists can succeed); the
same event still being applied by another call → 409 (retry); ``apply_event`` raising or the
state store down → 503 (retry; the event is forgotten, so the retry applies it).

Seen event ids are kept twice:

- durably, by ``apply_event`` itself: the ticket service records the event id in the
  transaction that applies it (table ``dispatch_events``, a week), so a captured call
  replayed within the window after a restart — or after Redis lost its keys — is a
  duplicate and changes nothing (it once escalated a ticket a second time);
- in the shared :class:`KeyValueStore` under ``dispatch-callback:event:{id}``: ``pending``
  (short TTL, while applying; a crash lets it expire: concurrent deliveries get 409) then
  ``done`` (kept for ``dedup_ttl``, a week by default), which answers repeats without a
  database write.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.api.body import BodyTooLarge, read_limited_body
from core.errors import StateBackendError
from integrations.state import KeyValueStore
from integrations.tickets.reports import EventOutcome

__all__ = [
    "CALLBACK_PATH",
    "DISPATCH_STATUSES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ApplyEvent",
    "CallbackEvent",
    "create_dispatch_callback_router",
    "sign_callback",
]

log = logging.getLogger(__name__)

CALLBACK_PATH = "/api/dispatch/callback"
SIGNATURE_HEADER = "X-Intake-Signature"
TIMESTAMP_HEADER = "X-Intake-Timestamp"
#: Our status vocabulary (the one :mod:`integrations.dispatch.base` documents).
DISPATCH_STATUSES = frozenset(
    {"received", "dispatched", "in_progress", "resolved", "closed", "reopened", "rejected"}
)

#: ``apply_event(event_id, ticket_id, external_id, status, note, actor)`` →
#: ``"applied"``, ``"duplicate"`` (this event id was applied before) or ``"unknown"`` (no such
#: ticket); :meth:`~integrations.tickets.reports.StatusReports.apply_status_event`.
ApplyEvent = Callable[
    [str, str | None, str | None, str, str | None, str], Awaitable[EventOutcome]
]

_KEY_PREFIX = "dispatch-callback:event:"
_PENDING = b"pending"
_DONE = b"done"
_MAX_ID = 200
_MAX_NOTE = 4000


def sign_callback(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Intake-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A validated webhook body."""

    event_id: str
    ticket_id: str | None
    external_id: str | None
    status: str
    note: str | None
    occurred_at: datetime | None


class _Invalid(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _signature_ok(header: str, timestamp: str, body: bytes, keys: Sequence[bytes]) -> bool:
    """Constant-time check of every ``sha256=`` value in the header against every key
    (several keys while a secret is being rotated; several values if the sender signs
    with old and new secrets during its own rotation)."""
    provided = [
        value.strip().lower().encode("utf-8")
        for scheme, _, value in (part.strip().partition("=") for part in header.split(","))
        if scheme.strip().lower() == "sha256" and value.strip()
    ]
    matched = False
    for key in keys:
        expected = sign_callback(key, timestamp, body).partition("=")[2].encode("ascii")
        for candidate in provided:
            # No early exit: the time taken does not depend on which pair matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def _identifier(data: dict[str, Any], name: str, *, numbers: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # Open311-style systems send numeric ids
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID:
        raise _Invalid(422, f"{name} must be a non-empty string of at most {_MAX_ID} characters")
    return value.strip()


def _parse_event(body: bytes) -> CallbackEvent:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Invalid(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise _Invalid(400, "body must be a JSON object")
    event_id = _identifier(data, "event_id")
    if event_id is None:
        raise _Invalid(422, "event_id is required")
    ticket_id = _identifier(data, "ticket_id")
    external_id = _identifier(data, "external_id", numbers=True)
    if ticket_id is None and external_id is None:
        raise _Invalid(422, "ticket_id or external_id is required")
    status = data.get("status")
    if not isinstance(status, str) or status not in DISPATCH_STATUSES:
        raise _Invalid(422, f"unknown status {status!r}; one of {sorted(DISPATCH_STATUSES)}")
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > _MAX_NOTE):
        raise _Invalid(422, f"note must be a string of at most {_MAX_NOTE} characters")
    occurred_at: datetime | None = None
    raw_time = data.get("occurred_at")
    if raw_time is not None:
        try:
            occurred_at = datetime.fromisoformat(raw_time) if isinstance(raw_time, str) else None
        except ValueError:
            occurred_at = None
        if occurred_at is None or occurred_at.tzinfo is None:
            raise _Invalid(422, "occurred_at must be an ISO 8601 time with an offset")
    return CallbackEvent(event_id, ticket_id, external_id, status, note or None, occurred_at)


def _answer(status: int, **content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _retry_later(detail: str, status: int = 503) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers={"Retry-After": "5"})


def create_dispatch_callback_router(
    *,
    apply_event: ApplyEvent,
    secret: str | bytes,
    store: KeyValueStore,
    clock: Callable[[], float] = time.time,
    window: float = 300.0,
    dedup_ttl: float = 7 * 24 * 3600.0,
    processing_ttl: float = 60.0,
    max_body_bytes: int = 64 * 1024,
    actor: str = "dispatch-webhook",
    previous_secrets: Sequence[str | bytes] = (),
) -> APIRouter:
    """The router with ``POST /api/dispatch/callback`` (see the module docstring).

    ``apply_event`` is the ticket service's entry point; ``clock`` gives unix seconds;
    ``previous_secrets`` are still accepted while senders move to a new ``secret``.
    """
    keys = [s.encode("utf-8") if isinstance(s, str) else s for s in (secret, *previous_secrets)]
    if not all(keys):
        raise ValueError("the dispatch callback secret must not be empty")
    if dedup_ttl <= window:
        # A replay must be recognised for as long as its signature could still be accepted.
        raise ValueError("dedup_ttl must be longer than the replay window")
    router = APIRouter()

    @router.post(CALLBACK_PATH)
    async def dispatch_callback(request: Request) -> JSONResponse:
        try:
            body = await read_limited_body(request, max_body_bytes)
        except BodyTooLarge:
            return _answer(413, detail="request body too large")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not timestamp or not signature:
            return _answer(401, detail=f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return _answer(401, detail=f"{TIMESTAMP_HEADER} must be unix seconds")
        if not _signature_ok(signature, timestamp, body, keys):
            return _answer(401, detail="bad signature")
        if abs(clock() - int(timestamp)) > window:
            return _answer(401, detail="timestamp outside the replay window")
        try:
            event = _parse_event(body)
        except _Invalid as exc:
            return _answer(exc.status, detail=exc.detail)
        try:
            return await _apply_once(event)
        except StateBackendError as exc:
            log.warning("dispatch callback %s: state store failed: %s", event.event_id, exc)
            return _retry_later("temporarily unavailable")

    async def _apply_once(event: CallbackEvent) -> JSONResponse:
        key = _KEY_PREFIX + event.event_id
        # Claim first, so two deliveries of one event racing each other apply it once.
        if not await store.set(key, _PENDING, ttl=processing_ttl, only_if_absent=True):
            state = await store.get(key)
            if state == _DONE:
                log.info("dispatch callback %s: duplicate, ignored", event.event_id)
                return _answer(200, ok=True, duplicate=True)
            if state is not None:
                return _retry_later("event is being applied; retry", 409)
            # The claim expired between the two calls: claim again (once).
            if not await store.set(key, _PENDING, ttl=processing_ttl, only_if_absent=True):
                return _retry_later("event is being applied; retry", 409)
        try:
            outcome = await apply_event(
                event.event_id, event.ticket_id, event.external_id, event.status, event.note, actor
            )
        except Exception:
            # Not applied: forget the claim so the sender's retry is not taken as a duplicate,
            # and say "retry" (503) rather than let the server answer a bare 500.
            await store.delete(key)
            log.exception("dispatch callback %s: applying the status failed", event.event_id)
            return _retry_later("could not apply the status; retry")
        except BaseException:
            await store.delete(key)  # cancelled (client gone, shutdown): not applied either
            raise
        if outcome == "unknown":
            await store.delete(key)
            log.info(
                "dispatch callback %s: unknown ticket (ticket_id=%s, external_id=%s)",
                event.event_id,
                event.ticket_id,
                event.external_id,
            )
            return _answer(404, detail="unknown ticket")
        await store.set(key, _DONE, ttl=dedup_ttl)
        if outcome == "duplicate":
            log.info("dispatch callback %s: applied before (database), ignored", event.event_id)
            return _answer(200, ok=True, duplicate=True)
        log.info(
            "dispatch callback %s: ticket %s → %s",
            event.event_id,
            event.ticket_id or f"external {event.external_id}",
            event.status,
        )
        return _answer(200, ok=True, duplicate=False)

    return router
