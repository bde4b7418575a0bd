"""The interface every dispatch backend implements, and its errors.

The outbox worker hands a :class:`DispatchRequest` to ``submit`` (retrying with the same
``idempotency_key`` until it succeeds or is parked); status changes come back by polling
(``poll``) or through the inbound webhook. Statuses use our vocabulary: ``received``,
``dispatched``, ``in_progress``, ``resolved``, ``closed``, ``reopened``, ``rejected``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.errors import RemoteServiceError

__all__ = [
    "DispatchBackend",
    "DispatchError",
    "DispatchReceipt",
    "DispatchRejected",
    "DispatchRequest",
    "DispatchUnavailable",
    "ExternalStatus",
]


class DispatchError(RemoteServiceError):
    """Base of dispatch failures."""


class DispatchUnavailable(DispatchError):
    """The system is down, slow or answered 5xx: try again later with the same key."""


class DispatchRejected(DispatchError):
    """The system refused the ticket for good (4xx, invalid service code): park the job."""


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """A ticket as handed to a dispatch system."""

    ticket_id: str
    idempotency_key: str
    category: str
    description: str
    location: str
    phone: str
    urgent: bool
    department: str
    level: str
    latitude: float | None = None
    longitude: float | None = None
    photos: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DispatchReceipt:
    """What ``submit`` learnt: the downstream id, or a token to resolve into one later."""

    external_id: str | None
    token: str | None = None
    status: str | None = None
    note: str | None = None
    #: the grid (网格) the dispatch system assigned: put on the ticket when the delivery is
    #: recorded (the embedded desk; ``None``: the ticket keeps its grid)
    grid: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalStatus:
    """A status reported by the dispatch system, mapped to our vocabulary."""

    external_id: str
    status: str
    note: str | None = None
    updated_at: datetime | None = None


class DispatchBackend(Protocol):
    """One dispatch system."""

    name: str

    async def submit(self, request: DispatchRequest) -> DispatchReceipt:
        """Create the ticket downstream (idempotent per ``request.idempotency_key``)."""
        ...

    async def resolve_token(self, token: str) -> str | None:
        """The downstream id for a token from ``submit``, once the system has assigned it."""
        ...

    async def poll(self, external_ids: Sequence[str]) -> list[ExternalStatus]:
        """Current statuses of these tickets (backends that push may return ``[]``)."""
        ...
