"""The inbound status webhook, over real HTTP: signatures, replay window, idempotency."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.api.dispatch_callback import (
    CALLBACK_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    create_dispatch_callback_router,
    sign_callback,
)
from core.errors import StateBackendError
from integrations.state import KeyValueStore, MemoryStore
from integrations.tickets.reports import EventOutcome
from testing.servers import serve_asgi

SECRET = "webhook-secret-0123456789abcdef"
NOW = 1_714_530_000.0  # 2024-05-01T02:20:00Z


@dataclass
class TicketService:
    """Stands in for the ticket service's ``apply_status_event``: knows two tickets and
    remembers applied event ids as its database does (the real one: test_replay_restart)."""

    known_tickets: set[str] = field(default_factory=lambda: {"T1", "T2"})
    known_external: dict[str, str] = field(default_factory=lambda: {"638344": "T2"})
    applied: list[tuple[str | None, str | None, str, str | None, str]] = field(default_factory=list)
    events: set[str] = field(default_factory=set)
    delay: float = 0.0
    fail: bool = False

    async def apply_event(
        self,
        event_id: str,
        ticket_id: str | None,
        external_id: str | None,
        status: str,
        note: str | None,
        actor: str,
    ) -> EventOutcome:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("ticket database is down")
        if event_id in self.events:
            return "duplicate"
        if ticket_id not in self.known_tickets and external_id not in self.known_external:
            return "unknown"
        self.events.add(event_id)
        self.applied.append((ticket_id, external_id, status, note, actor))
        return "applied"


class Clock:
    """A settable clock (unix seconds)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Webhook:
    url: str
    tickets: TicketService
    clock: Clock
    store: KeyValueStore
    http: httpx.AsyncClient

    async def send(
        self,
        event: dict[str, Any] | bytes,
        *,
        timestamp: int | str | None = None,
        secret: str = SECRET,
        signature: str | bytes | None = None,
        headers: dict[str, str | bytes] | None = None,
    ) -> httpx.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        ts = str(int(self.clock.now) if timestamp is None else timestamp)
        sent: dict[str, str | bytes] = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: signature or sign_callback(secret, ts, body),
        }
        sent.update(headers or {})
        raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in sent.items()}
        return await self.http.post(self.url + CALLBACK_PATH, content=body, headers=raw)


def event(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "evt-1",
        "ticket_id": "T1",
        "status": "in_progress",
        "note": "维修人员已出发",
        "occurred_at": "2024-05-01T10:20:00+08:00",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def build_app(
    tickets: TicketService, store: KeyValueStore, clock: Clock, **options: Any
) -> FastAPI:
    app = FastAPI()
    app.include_router(
        create_dispatch_callback_router(
            apply_event=tickets.apply_event,
            secret=SECRET,
            store=store,
            clock=clock,
            **options,
        )
    )
    return app


@pytest.fixture
def served_app() -> Iterator[tuple[str, TicketService, Clock, MemoryStore]]:
    tickets, clock, store = TicketService(), Clock(), MemoryStore()
    with serve_asgi(build_app(tickets, store, clock), lifespan="off") as url:
        yield url, tickets, clock, store


@pytest.fixture
async def hook(served_app: tuple[str, TicketService, Clock, MemoryStore]) -> AsyncIterator[Webhook]:
    url, tickets, clock, store = served_app
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield Webhook(url, tickets, clock, store, http)


# -- happy path -----------------------------------------------------------------------------


async def test_good_signature_applies_the_status(hook: Webhook) -> None:
    response = await hook.send(event())
    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    assert hook.tickets.applied == [
        ("T1", None, "in_progress", "维修人员已出发", "dispatch-webhook")
    ]


async def test_by_external_id_numeric_and_without_optional_fields(hook: Webhook) -> None:
    response = await hook.send(
        event(ticket_id=..., external_id=638344, status="resolved", note=..., occurred_at=...)
    )
    assert response.status_code == 200, response.text
    assert hook.tickets.applied == [(None, "638344", "resolved", None, "dispatch-webhook")]


async def test_signature_header_is_case_insensitive_hex(hook: Webhook) -> None:
    body = json.dumps(event()).encode()
    ts = str(int(NOW))
    signature = "SHA256=" + sign_callback(SECRET, ts, body).partition("=")[2].upper()
    response = await hook.send(body, timestamp=ts, signature=signature)
    assert response.status_code == 200


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha256=",
        "sha1=abcdef",
        "not-a-signature",
        "sha256=ünïcode".encode("latin-1"),  # header bytes outside ASCII
    ],
)
async def test_bad_signature_is_401(hook: Webhook, signature: str | bytes) -> None:
    response = await hook.send(event(), signature=signature)
    assert response.status_code == 401
    assert hook.tickets.applied == []


async def test_wrong_secret_and_tampered_body_are_401(hook: Webhook) -> None:
    assert (await hook.send(event(), secret="another-secret")).status_code == 401
    body = json.dumps(event()).encode()
    ts = str(int(NOW))
    signature = sign_callback(SECRET, ts, body)
    tampered = body.replace(b"in_progress", b"resolved")
    response = await hook.send(tampered, timestamp=ts, signature=signature)
    assert response.status_code == 401
    # The signature binds the timestamp too: the same body with another timestamp fails.
    other_ts = await hook.send(body, timestamp=int(NOW) + 1, signature=signature)
    assert other_ts.status_code == 401
    assert hook.tickets.applied == []


async def test_missing_headers_are_401(hook: Webhook) -> None:
    body = json.dumps(event()).encode()
    for missing in (TIMESTAMP_HEADER, SIGNATURE_HEADER):
        headers = {
            TIMESTAMP_HEADER: str(int(NOW)),
            SIGNATURE_HEADER: sign_callback(SECRET, int(NOW), body),
        }
        del headers[missing]
        response = await hook.http.post(hook.url + CALLBACK_PATH, content=body, headers=headers)
        assert response.status_code == 401
        assert missing in response.json()["detail"]
    assert (await hook.send(event(), timestamp="12.5")).status_code == 401
    assert (await hook.send(event(), timestamp="-5")).status_code == 401


@pytest.mark.parametrize(("offset", "status"), [(-301, 401), (301, 401), (-300, 200), (299, 200)])
async def test_replay_window(hook: Webhook, offset: int, status: int) -> None:
    response = await hook.send(event(), timestamp=int(NOW) + offset)
    assert response.status_code == status
    if status == 401:
        assert "replay window" in response.json()["detail"]
        assert hook.tickets.applied == []


async def test_a_captured_call_replayed_later_is_refused(hook: Webhook) -> None:
    body = json.dumps(event()).encode()
    ts = str(int(NOW))
    signature = sign_callback(SECRET, ts, body)
    assert (await hook.send(body, timestamp=ts, signature=signature)).status_code == 200
    hook.clock.now += 3600
    assert (await hook.send(body, timestamp=ts, signature=signature)).status_code == 401
    assert len(hook.tickets.applied) == 1


# -- idempotency ----------------------------------------------------------------------------


async def test_duplicate_event_id_is_applied_once(hook: Webhook) -> None:
    first = await hook.send(event())
    hook.clock.now += 120  # the sender retries with a fresh timestamp and signature
    again = await hook.send(event())
    other = await hook.send(event(event_id="evt-2", status="resolved"))

    assert first.json() == {"ok": True, "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"ok": True, "duplicate": True}
    assert other.json() == {"ok": True, "duplicate": False}
    assert [a[2] for a in hook.tickets.applied] == ["in_progress", "resolved"]


async def test_duplicates_are_remembered_beyond_the_window(hook: Webhook) -> None:
    assert (await hook.send(event())).status_code == 200
    hook.clock.now += 6 * 3600
    assert (await hook.send(event())).json()["duplicate"] is True
    assert len(hook.tickets.applied) == 1


async def test_unknown_ticket_is_404_and_not_remembered(hook: Webhook) -> None:
    response = await hook.send(event(ticket_id="T404"))
    assert response.status_code == 404
    assert hook.tickets.applied == []
    # Once the ticket exists, the sender's retry of the same event is applied.
    hook.tickets.known_tickets.add("T404")
    retry = await hook.send(event(ticket_id="T404"))
    assert retry.json() == {"ok": True, "duplicate": False}
    assert len(hook.tickets.applied) == 1


async def test_concurrent_deliveries_of_one_event_apply_once() -> None:
    tickets, clock, store = TicketService(delay=0.3), Clock(), MemoryStore()
    with serve_asgi(build_app(tickets, store, clock), lifespan="off") as url:
        async with httpx.AsyncClient(timeout=5.0) as http:
            hook = Webhook(url, tickets, clock, store, http)
            first, second = await asyncio.gather(hook.send(event()), hook.send(event()))
            after = await hook.send(event())
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert after.json()["duplicate"] is True
    assert len(tickets.applied) == 1


async def test_failed_apply_is_not_remembered() -> None:
    tickets, clock, store = TicketService(fail=True), Clock(), MemoryStore()
    with serve_asgi(build_app(tickets, store, clock), lifespan="off") as url:
        async with httpx.AsyncClient(timeout=5.0) as http:
            hook = Webhook(url, tickets, clock, store, http)
            failed = await hook.send(event())
            tickets.fail = False
            retried = await hook.send(event())
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "5"
    assert retried.json() == {"ok": True, "duplicate": False}
    assert len(tickets.applied) == 1


# -- body validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (event(status="fixed"), 422),
        (event(status=None), 422),
        (event(event_id=...), 422),
        (event(event_id=""), 422),
        (event(event_id="x" * 201), 422),
        (event(ticket_id=...), 422),
        (event(ticket_id=7), 422),
        (event(note=["a"]), 422),
        (event(occurred_at="yesterday"), 422),
        (event(occurred_at="2024-05-01T10:00:00"), 422),
        (b"not json", 400),
        (b"[1, 2]", 400),
    ],
)
async def test_bad_bodies(hook: Webhook, body: dict[str, Any] | bytes, status: int) -> None:
    response = await hook.send(body)
    assert response.status_code == status
    assert hook.tickets.applied == []


async def test_unknown_status_is_422_and_lists_ours(hook: Webhook) -> None:
    response = await hook.send(event(status="done"))
    assert response.status_code == 422
    assert "in_progress" in response.json()["detail"]


async def test_oversized_body_is_413(hook: Webhook) -> None:
    response = await hook.send(event(note="长" * 30000))
    assert response.status_code == 413


# -- configuration and the store ------------------------------------------------------------


class BrokenStore(MemoryStore):
    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        raise StateBackendError("redis is down")


async def test_store_failure_is_503() -> None:
    tickets, clock = TicketService(), Clock()
    with serve_asgi(build_app(tickets, BrokenStore(), clock), lifespan="off") as url:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await Webhook(url, tickets, clock, BrokenStore(), http).send(event())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert tickets.applied == []


async def test_previous_secret_is_accepted_during_rotation() -> None:
    tickets, clock, store = TicketService(), Clock(), MemoryStore()
    app = build_app(tickets, store, clock, previous_secrets=["old-secret"])
    with serve_asgi(app, lifespan="off") as url:
        async with httpx.AsyncClient(timeout=5.0) as http:
            hook = Webhook(url, tickets, clock, store, http)
            assert (await hook.send(event(), secret="old-secret")).status_code == 200
            assert (await hook.send(event(event_id="e2"))).status_code == 200
            assert (await hook.send(event(event_id="e3"), secret="older")).status_code == 401


def test_router_refuses_an_empty_secret_or_a_short_dedup_ttl() -> None:
    tickets, store = TicketService(), MemoryStore()
    with pytest.raises(ValueError, match="secret"):
        create_dispatch_callback_router(apply_event=tickets.apply_event, secret="", store=store)
    with pytest.raises(ValueError, match="dedup_ttl"):
        create_dispatch_callback_router(
            apply_event=tickets.apply_event, secret=SECRET, store=store, dedup_ttl=60
        )


def test_sign_callback_is_the_documented_hmac() -> None:
    body = b'{"event_id":"e"}'
    expected = hmac.new(SECRET.encode(), b"1714530000." + body, hashlib.sha256).hexdigest()
    assert sign_callback(SECRET, 1714530000, body) == f"sha256={expected}"
    assert sign_callback(SECRET.encode(), "1714530000", body) == f"sha256={expected}"


async def test_duplicates_are_caught_by_each_shared_store(kv_store: KeyValueStore) -> None:
    """Memory and the real Redis (the store is bound to this loop, so in-process ASGI)."""
    tickets, clock = TicketService(), Clock()
    transport = httpx.ASGITransport(app=build_app(tickets, kv_store, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        hook = Webhook("http://intake", tickets, clock, kv_store, http)
        first = await hook.send(event())
        again = await hook.send(event())
        missing = await hook.send(event(event_id="evt-404", ticket_id="T404"))
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert missing.status_code == 404
    assert len(tickets.applied) == 1
    assert await kv_store.get("dispatch-callback:event:evt-1") == b"done"
    assert await kv_store.get("dispatch-callback:event:evt-404") is None
