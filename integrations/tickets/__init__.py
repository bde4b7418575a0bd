"""Tickets (工单): the store, the service the bot and staff call, and the dispatch outbox.

``TicketService`` is the entry point; :mod:`integrations.dispatch.worker` delivers the
outbox, :mod:`integrations.notify` pushes status changes to residents, and the pure rules
(status machine, SLA, levels, wording) live in :mod:`policies.tickets`.
"""

from integrations.tickets.config import ENV_NAMES, TicketConfig
from integrations.tickets.errors import (
    IllegalTransition,
    InvalidTicket,
    JobNotFound,
    JobNotRetryable,
    TicketError,
    TicketNotFound,
)
from integrations.tickets.model import Delivery, OutboxJob, PushJob, Ticket, TimelineEntry
from integrations.tickets.outbox import ClaimedJob, Outbox
from integrations.tickets.service import CHANNELS, TicketService

__all__ = [
    "CHANNELS",
    "ENV_NAMES",
    "ClaimedJob",
    "Delivery",
    "IllegalTransition",
    "InvalidTicket",
    "JobNotFound",
    "JobNotRetryable",
    "Outbox",
    "OutboxJob",
    "PushJob",
    "Ticket",
    "TicketConfig",
    "TicketError",
    "TicketNotFound",
    "TicketService",
    "TimelineEntry",
]
