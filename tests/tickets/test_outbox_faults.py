"""The outbox under faults: outages, killed workers, racing workers, refusals.

Every test runs on SQLite and on the real PostgreSQL; time is a fake clock, so backoffs
and leases expire when the test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.dispatch import DispatchReceipt, DispatchRequest, ExternalStatus
from integrations.tickets import JobNotFound, JobNotRetryable, TicketConfig, TicketService
from tests.tickets.conftest import MakeService, MakeWorker, create_ticket
from tests.tickets.fakes import FakeBackend, FakeClock


async def drain(
    workers: list[Any], clock: FakeClock, *, step: float = 10.0, rounds: int = 50
) -> None:
    """Run the workers (concurrently) until a pass finds nothing to do."""
    for _ in range(rounds):
        done = await asyncio.gather(*(w.run_once() for w in workers))
        if not any(done):
            return
        clock.advance(step)
    raise AssertionError("the outbox did not drain")


async def test_outage_then_recovery_every_ticket_arrives_exactly_once(
    engine: AsyncEngine,
    make_service: MakeService,
    backend: FakeBackend,
    make_worker: MakeWorker,
    clock: FakeClock,
) -> None:
    service = make_service(engine, outbox_max_attempts=8)
    worker = make_worker(service, backend)
    backend.down = True
    tickets = [await create_ticket(service) for _ in range(12)]

    for _ in range(4):  # four failed attempts each, with growing backoff
        await worker.run_once()
        clock.advance(9)  # longer than the largest backoff (8 s)
    job = (await service.queries.get(tickets[0].id)).delivery
    assert job is not None and job.status == "pending" and job.attempts == 4
    assert job.last_error is not None and "down" in job.last_error
    assert job.next_attempt_at > clock.now - timedelta(seconds=9)

    backend.down = False
    await drain([worker], clock)

    assert backend.tickets_created == Counter({t.id: 1 for t in tickets})
    assert all(n == 5 for n in backend.keys_submitted.values())  # 4 refused + 1 delivered
    for ticket in tickets:
        stored = await service.queries.get(ticket.id)
        assert stored.status == "dispatched"
        assert stored.external_id == backend.created[f"{ticket.id}:1"].external_id
        assert stored.delivery is not None and stored.delivery.status == "delivered"


async def test_backoff_grows_exponentially_and_is_capped(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, backend)
    backend.down = True
    ticket = await create_ticket(service)
    delays = []
    for _ in range(3):
        await worker.run_once()
        job = (await service.queries.get(ticket.id)).delivery
        assert job is not None
        delays.append((job.next_attempt_at - clock.now).total_seconds())
        clock.advance(delays[-1])
    assert delays == [1.0, 2.0, 4.0]  # base 1 s, doubling, no jitter in tests
    assert service.config.backoff(10) == 8.0  # capped at backoff_max
    jittery = TicketConfig(backoff_base=10, backoff_max=100, backoff_jitter=0.2)
    assert jittery.backoff(1, lambda: 0.0) == 8.0 and jittery.backoff(1, lambda: 1.0) == 12.0


async def test_worker_killed_mid_delivery_is_redelivered_with_the_same_key(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)
    first = make_worker(service, backend, worker_id="doomed")
    second = make_worker(service, backend, worker_id="survivor")
    backend.gate = asyncio.Event()  # submit reaches downstream, then hangs

    doomed = asyncio.create_task(first.run_once())
    await asyncio.wait_for(backend.entered.wait(), timeout=5)
    doomed.cancel()  # killed: no answer recorded, lease not released
    with contextlib.suppress(asyncio.CancelledError):
        await doomed
    backend.gate = None

    job = (await service.queries.get(ticket.id)).delivery
    assert job is not None and job.claimed_by == "doomed" and job.status == "pending"
    assert await second.deliver_due() == 0  # the lease still holds

    clock.advance(service.config.lease_seconds + 1)
    assert await second.deliver_due() == 1

    assert backend.keys_submitted == Counter({f"{ticket.id}:1": 2})  # same key twice
    assert backend.tickets_created == Counter({ticket.id: 1})  # one ticket downstream
    stored = await service.queries.get(ticket.id)
    assert stored.status == "dispatched" and stored.external_id == "EXT-1"
    assert stored.delivery is not None and stored.delivery.attempts == 2


class _Recording:
    """A worker's view of the shared backend that records which worker delivered what."""

    def __init__(self, backend: FakeBackend, who: str, log: list[tuple[str, str]]) -> None:
        self.name = backend.name
        self._backend = backend
        self._who = who
        self._log = log

    async def submit(self, request: DispatchRequest) -> DispatchReceipt:
        self._log.append((self._who, request.idempotency_key))
        return await self._backend.submit(request)

    async def resolve_token(self, token: str) -> str | None:
        return None

    async def poll(self, external_ids: Any) -> list[ExternalStatus]:
        return []


async def test_racing_workers_never_deliver_twice(
    db_url: str,
    engines: Callable[[str], AsyncEngine],
    make_service: MakeService,
    backend: FakeBackend,
    make_worker: MakeWorker,
    clock: FakeClock,
) -> None:
    # Three workers as three processes would run them: each with its own connection pool.
    services = [make_service(engines(db_url), batch_size=4) for _ in range(3)]
    tickets = await asyncio.gather(*(create_ticket(services[0]) for _ in range(60)))
    backend.delay = 0.002  # long enough for claims to interleave
    deliveries: list[tuple[str, str]] = []
    workers = [
        make_worker(s, _Recording(backend, f"w{i}", deliveries), worker_id=f"w{i}")
        for i, s in enumerate(services)
    ]

    await drain(workers, clock, step=0)

    assert backend.keys_submitted == Counter({f"{t.id}:1": 1 for t in tickets})
    assert len(deliveries) == 60
    assert len({who for who, _ in deliveries}) == 3  # all three really took part
    statuses = Counter(t.status for t in await services[1].queries.list_tickets(limit=100))
    assert statuses == Counter({"dispatched": 60})


async def test_parked_after_max_attempts_visible_and_requeued(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, backend)
    backend.down = True
    ticket = await create_ticket(service)
    for _ in range(service.config.outbox_max_attempts):
        await worker.run_once()
        clock.advance(10)
    assert await worker.run_once() == 0  # parked: no more attempts

    parked = await service.outbox.jobs("parked")
    assert [(j.ticket_id, j.attempts) for j in parked] == [(ticket.id, 4)]
    stored = await service.queries.get(ticket.id)
    assert stored.status == "received"
    assert stored.delivery is not None and stored.delivery.status == "parked"
    assert stored.history[-1].note is not None
    assert stored.history[-1].note.startswith("连续4次派单失败，已转人工处理")

    backend.down = False
    requeued = await service.outbox.requeue(parked[0].id, actor="staff:王")
    assert (requeued.status, requeued.attempts) == ("pending", 0)
    with pytest.raises(JobNotRetryable):
        await service.outbox.requeue(parked[0].id)
    with pytest.raises(JobNotFound):
        await service.outbox.requeue(999_999)
    await worker.run_once()
    delivered = await service.queries.get(ticket.id)
    assert delivered.status == "dispatched"
    assert set(backend.keys_submitted) == {f"{ticket.id}:1"}  # the same key throughout
    assert backend.tickets_created == Counter({ticket.id: 1})


async def test_refusal_parks_at_once(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker
) -> None:
    backend.reject = True
    ticket = await create_ticket(service)
    await make_worker(service, backend).run_once()

    job = (await service.queries.get(ticket.id)).delivery
    assert job is not None and (job.status, job.attempts) == ("parked", 1)
    assert job.last_error is not None and "refuses" in job.last_error
    assert (await service.queries.get(ticket.id)).history[-1].note.startswith("下游拒收")  # type: ignore[union-attr]


async def test_a_crashing_backend_is_retried_not_lost(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    ticket = await create_ticket(service)
    calls = 0
    original = backend.submit

    async def buggy(request: DispatchRequest) -> DispatchReceipt:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("bug in a backend")
        return await original(request)

    backend.submit = buggy  # type: ignore[method-assign]
    worker = make_worker(service, backend)
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).delivery.status == "pending"  # type: ignore[union-attr]
    clock.advance(2)
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).status == "dispatched"


async def test_polling_applies_downstream_changes(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, backend)
    ticket = await create_ticket(service)
    await worker.run_once()  # delivers, and polls (first pass) — nothing to report yet
    backend.statuses["EXT-1"] = ExternalStatus("EXT-1", "in_progress", "已派工")

    await worker.run_once()  # not due yet
    assert (await service.queries.get(ticket.id)).status == "dispatched"
    clock.advance(service.config.poll_interval)
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).status == "in_progress"

    backend.statuses["EXT-1"] = ExternalStatus("EXT-1", "resolved", "已修复")
    assert await worker.poll_statuses() == 1
    resolved = await service.queries.get(ticket.id)
    assert resolved.status == "resolved"
    assert resolved.history[-1].actor == "dispatch:fake"
    assert backend.poll_calls[-1] == ["EXT-1"]
    assert await worker.poll_statuses() == 0  # resolved tickets are not polled

    backend.down = True  # a failed poll is logged and retried next time
    await service.rating.rate(ticket.id, "unsatisfied", "没修好", openid=ticket.openid)
    assert await worker.poll_statuses() == 0


async def test_tokens_resolve_into_ids(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker, clock: FakeClock
) -> None:
    worker = make_worker(service, backend)
    backend.issue_tokens = True
    ticket = await create_ticket(service)
    await worker.run_once()
    stored = await service.queries.get(ticket.id)
    assert stored.status == "dispatched" and stored.external_id is None

    assert await worker.resolve_tokens() == 0  # not assigned yet
    backend.tokens["TOKEN-1"] = "638344"
    assert await worker.resolve_tokens() == 1
    resolved = await service.queries.get(ticket.id)
    assert resolved.external_id == "638344"
    assert resolved.history[-1].note == "下游编号：638344"
    assert resolved.delivery is not None and resolved.delivery.external_id == "638344"

    other = await create_ticket(service)
    await worker.deliver_due()
    clock.advance(service.config.token_max_age + 1)
    await worker.resolve_tokens()
    assert (await service.queries.get(other.id)).history[-1].note.startswith("下游长期未分配编号")  # type: ignore[union-attr]


async def test_run_forever_wakes_on_a_new_ticket_and_stops(
    service: TicketService, backend: FakeBackend, make_worker: MakeWorker
) -> None:
    worker = make_worker(service, backend)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    ticket = await create_ticket(service)
    for _ in range(200):
        if (await service.queries.get(ticket.id)).status == "dispatched":
            break
        await asyncio.sleep(0.01)
    assert (await service.queries.get(ticket.id)).status == "dispatched"
    stop.set()
    await asyncio.wait_for(task, timeout=5)


async def test_claims_respect_their_limit_and_never_overlap(
    db_url: str,
    engines: Callable[[str], AsyncEngine],
    make_service: MakeService,
) -> None:
    # Regression: as a plain IN-subquery, PostgreSQL re-ran the LIMITed SKIP LOCKED select
    # per updated row and one worker claimed every due job.
    services = [make_service(engines(db_url)) for _ in range(3)]
    for _ in range(20):
        await create_ticket(services[0])
    claims = await asyncio.gather(
        *(s.outbox.claim(f"w{i}", 4) for i, s in enumerate(services))
    )
    ids = [job.id for claim in claims for job in claim]
    assert [len(claim) for claim in claims] == [4, 4, 4]
    assert len(set(ids)) == 12
    again = await services[0].outbox.claim("w0", 100)
    assert len(again) == 8 and not {job.id for job in again} & set(ids)
