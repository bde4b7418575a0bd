"""Typed errors of the ticket store, all under :class:`TicketError` (an ``IntakeError``)."""

from __future__ import annotations

from core.errors import IntakeError

__all__ = [
    "IllegalTransition",
    "InvalidTicket",
    "JobNotFound",
    "JobNotRetryable",
    "TicketError",
    "TicketNotFound",
]


class TicketError(IntakeError):
    """Root of the ticket store's errors."""


class TicketNotFound(TicketError):
    """No ticket with this id (or not one of this resident's)."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no ticket {ticket_id!r}")
        self.ticket_id = ticket_id


class InvalidTicket(TicketError):
    """A field is missing or invalid (unknown category, status or rating, empty location,
    a rejection without a reason); the message names it, ``text`` (when the rules word it)
    says it in Chinese for staff."""

    def __init__(self, message: str, *, text: str | None = None) -> None:
        super().__init__(message)
        self.text = text


class IllegalTransition(TicketError):
    """The ticket rules refuse this change; ``from_status`` and ``to_status`` name it,
    ``reason`` says why (English), ``text`` the same in Chinese for staff."""

    def __init__(
        self,
        ticket_id: str,
        from_status: str,
        to_status: str,
        reason: str,
        *,
        text: str | None = None,
    ) -> None:
        super().__init__(f"ticket {ticket_id}: {reason}")
        self.ticket_id = ticket_id
        self.from_status = from_status
        self.to_status = to_status
        self.reason = reason
        self.text = text


class JobNotFound(TicketError):
    """No outbox or push job with this id."""


class JobNotRetryable(TicketError):
    """The job exists but is not parked (or failed): there is nothing to re-queue."""
