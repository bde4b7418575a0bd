"""Tickets (工单): the store, the services the bot and staff call, and the dispatch outbox.

``TicketService`` wires the services (filing, queries, status changes, assignment,
escalation, rating, dispatch reports, outbox, pushes) on one shared core;
:mod:`integrations.dispatch.worker` delivers the outbox, :mod:`integrations.notify` pushes
status changes to residents, and the pure rules (status machine, SLA, levels, wording)
live in :mod:`policies.tickets`.
"""

from integrations.tickets.config import TicketConfig
from integrations.tickets.errors import (
    IllegalTransition,
    InvalidTicket,
    JobNotFound,
    JobNotRetryable,
    TicketError,
    TicketNotFound,
)
from integrations.tickets.model import (
    Delivery,
    OutboxJob,
    PushAttempt,
    PushFate,
    PushJob,
    Ticket,
    TimelineEntry,
)
from integrations.tickets.outbox import ClaimedJob, Outbox
from integrations.tickets.queries import TicketFilter
from integrations.tickets.service import TicketService

__all__ = [
    "ClaimedJob",
    "Delivery",
    "IllegalTransition",
    "InvalidTicket",
    "JobNotFound",
    "JobNotRetryable",
    "Outbox",
    "OutboxJob",
    "PushAttempt",
    "PushFate",
    "PushJob",
    "Ticket",
    "TicketConfig",
    "TicketError",
    "TicketFilter",
    "TicketNotFound",
    "TicketService",
    "TimelineEntry",
]
