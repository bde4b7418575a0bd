"""The ticket reads a resident's conversation makes, as lean as a read can be.

A conversation asks "which of my tickets are open, and in what state?" (status questions,
ratings) and "which phone did I give last time?" (a complaint's phone). Each is answered
with one statement of the few columns a reply needs, with no timeline, no deliveries and no
ORM objects: :meth:`TicketQueries.list_for_resident` loads whole tickets (three
statements), which staff screens need and a chat reply does not. The statements are built
once, their values bound per call: building a SELECT with its filters and order and
deriving its cache key cost ~0.25 ms of CPU a call, about as much as SQLite's work and
the session together (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select

from integrations.db.models import TicketRow
from integrations.tickets.core import CoreService
from policies.tickets import OPEN_STATUSES

__all__ = ["ResidentLookups", "TicketSummary"]

_TICKETS = TicketRow.__table__.c
_OPEN = sorted(OPEN_STATUSES)
#: the most tickets :meth:`ResidentLookups.tickets` returns
MAX_TICKETS = 500


def _tickets_statement(*, open_only: bool) -> Select[Any]:
    statement = select(
        _TICKETS.id,
        _TICKETS.category,
        _TICKETS.status,
        _TICKETS.department,
        _TICKETS.urgent,
        _TICKETS.solved,
        _TICKETS.follow_up,
    ).where(_TICKETS.openid == bindparam("openid"))
    if open_only:
        statement = statement.where(_TICKETS.status.in_(_OPEN))
    return statement.order_by(_TICKETS.created_at.desc(), _TICKETS.id.desc()).limit(
        bindparam("limit")
    )


#: by ``open_only``
_TICKETS_OF = {open_only: _tickets_statement(open_only=open_only) for open_only in (True, False)}
_LAST_PHONE = (
    select(_TICKETS.phone)
    .where(_TICKETS.openid == bindparam("openid"), _TICKETS.phone != "")
    .order_by(_TICKETS.created_at.desc(), _TICKETS.id.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class TicketSummary:
    """What a chat reply shows of a ticket."""

    id: str
    category: str
    status: str
    department: str
    urgent: bool
    #: after 办结: the answer to "was it solved?" (``None``: not given yet)
    solved: bool | None
    #: the 回访's state (``asked``: a question waits for the resident)
    follow_up: str | None


class ResidentLookups(CoreService):
    """Reads for the resident's own conversation (``tickets.lookups``)."""

    async def tickets(
        self, openid: str, *, open_only: bool = True, limit: int = 20
    ) -> list[TicketSummary]:
        """The resident's tickets, newest first, as :meth:`TicketQueries.list_for_resident`
        orders and filters them (``open_only``: not closed or rejected)."""
        values = {"openid": openid, "limit": max(1, min(limit, MAX_TICKETS))}
        async with self.core.read() as session:
            rows = (await session.execute(_TICKETS_OF[open_only], values)).all()
        return [TicketSummary(*row) for row in rows]

    async def last_phone(self, openid: str) -> str | None:
        """The phone of the resident's latest ticket (offered for reuse, with consent)."""
        async with self.core.read() as session:
            found = await session.execute(_LAST_PHONE, {"openid": openid})
            phone: str | None = found.scalar_one_or_none()
        return phone
