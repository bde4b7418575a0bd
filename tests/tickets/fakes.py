"""Test doubles: a movable clock and a dispatch system that can be down, slow or refusing."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from integrations.dispatch import (
    DispatchReceipt,
    DispatchRejected,
    DispatchRequest,
    DispatchUnavailable,
    ExternalStatus,
)

#: 10:00 in Beijing on 2026-11-23: ticket ids of "today" start with 20261123.
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class FakeClock:
    """Aware UTC time that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, *, hours: float = 0) -> datetime:
        self.now += timedelta(seconds=seconds, hours=hours)
        return self.now


class FakeBackend:
    """A dispatch system honouring idempotency keys, with switchable faults.

    ``down``: every submit raises DispatchUnavailable (after recording the call);
    ``reject``: DispatchRejected; ``gate``: submit creates the ticket, signals ``entered``
    and then waits for the gate (a worker killed there has delivered but not recorded it);
    ``delay``: seconds each submit takes.
    """

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.down = False
        self.reject = False
        self.delay = 0.0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.calls: list[DispatchRequest] = []
        self.created: dict[str, DispatchReceipt] = {}
        self.statuses: dict[str, ExternalStatus] = {}
        self.tokens: dict[str, str | None] = {}
        self.issue_tokens = False
        self.poll_calls: list[list[str]] = []
        self._ids = itertools.count(1)

    @property
    def keys_submitted(self) -> Counter[str]:
        return Counter(call.idempotency_key for call in self.calls)

    @property
    def tickets_created(self) -> Counter[str]:
        """How many downstream tickets exist per ticket id (must never exceed the number of
        generations)."""
        return Counter(key.split(":")[0] for key in self.created)

    async def submit(self, request: DispatchRequest) -> DispatchReceipt:
        self.calls.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise DispatchUnavailable("fake dispatch system is down")
        if self.reject:
            raise DispatchRejected("fake dispatch system refuses this category")
        receipt = self.created.get(request.idempotency_key)
        if receipt is None:
            number = next(self._ids)
            if self.issue_tokens:
                receipt = DispatchReceipt(external_id=None, token=f"TOKEN-{number}")
                self.tokens[f"TOKEN-{number}"] = None
            else:
                receipt = DispatchReceipt(external_id=f"EXT-{number}", note="已转至区城管")
            self.created[request.idempotency_key] = receipt
        if self.gate is not None:
            self.entered.set()
            await self.gate.wait()
        return receipt

    async def resolve_token(self, token: str) -> str | None:
        return self.tokens.get(token)

    async def poll(self, external_ids: Sequence[str]) -> list[ExternalStatus]:
        self.poll_calls.append(list(external_ids))
        if self.down:
            raise DispatchUnavailable("fake dispatch system is down")
        return [self.statuses[i] for i in external_ids if i in self.statuses]
