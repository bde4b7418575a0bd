"""What the conversation needs from tickets and the staff queue, as interfaces.

The dialogue handler depends on these, not on the database, so it is wired once in the
runtime and tested with the real implementations behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from integrations.training.review import ReviewCandidate
from policies.dialogue import NearbyProblem
from policies.state import Case

__all__ = [
    "ChatLine",
    "ChatMemory",
    "HandoffDesk",
    "ProblemClusters",
    "ReviewSink",
    "TicketDesk",
    "TicketView",
]

#: one line of a chat: ``{"at": iso time, "role": "resident" | "bot" | "staff", "text"}``
ChatLine = dict[str, str]


@dataclass(frozen=True, slots=True)
class TicketView:
    """The few fields the conversation shows a resident."""

    id: str
    category: str
    status: str
    department: str | None = None
    urgent: bool = False
    #: after 办结: the answer to "was it solved?" (``None``: not given yet)
    solved: bool | None = None
    #: the 回访's state (``asked``: a question waits for the resident)
    follow_up: str | None = None


class TicketDesk(Protocol):
    """Tickets as the resident's conversation sees them."""

    async def create_from_case(
        self, openid: str, case: Case, chat: Sequence[ChatLine], source_key: str
    ) -> TicketView | None:
        """File the ticket, with the chat that led to it, once per ``source_key`` (the
        message that confirmed it); ``None``: the database is out of reach, the complaint
        is kept and filed later (the resident gets the number then)."""

    async def for_resident(self, openid: str, *, open_only: bool = True) -> list[TicketView]: ...

    async def last_phone(self, openid: str) -> str | None: ...

    async def rate(self, openid: str, ticket_id: str, rating: str, reason: str | None) -> None: ...

    async def answer_solved(
        self, openid: str, ticket_id: str, solved: bool, words: str | None
    ) -> None: ...

    async def answer_follow_up(
        self, openid: str, ticket_id: str, recurred: bool, words: str | None
    ) -> TicketView | None:
        """Record the 回访 answer; when the problem ``recurred``, the new ticket filed."""

    async def awaiting_follow_up(self, openid: str) -> list[str]:
        """Ids of the resident's closed tickets whose 回访 question is open, newest first."""

    async def record_inbound(self, openid: str) -> None: ...


class HandoffDesk(Protocol):
    """The staff queue of escalated chats."""

    async def active(self, openid: str) -> bool: ...

    async def start(self, openid: str, reason: str, chat: Sequence[ChatLine] = ()) -> None:
        """Queue the chat for staff; a new handoff's transcript starts with ``chat``."""

    async def record(self, openid: str, role: str, text: str) -> None: ...


class ChatMemory(Protocol):
    """The recent lines of each resident's chat."""

    async def append(self, openid: str, role: str, text: str) -> list[ChatLine]:
        """Add a line; returns the recent lines, this one last."""

    async def recent(self, openid: str) -> list[ChatLine]: ...

    def add(self, lines: list[ChatLine], role: str, text: str) -> None:
        """Add a line to ``lines`` read with :meth:`recent`, in memory."""

    async def save(self, openid: str, lines: list[ChatLine]) -> None:
        """Store ``lines`` as the resident's recent chat."""


class ReviewSink(Protocol):
    """Where messages the bot was unsure about go for an admin to label."""

    async def add(self, candidate: ReviewCandidate) -> object:
        """Queue the message; must not raise (a failure is logged, the reply goes on)."""


class ProblemClusters(Protocol):
    """Problems others already reported (issue 15): the "已有居民反映" notice."""

    async def nearby(self, openid: str, case: Case) -> NearbyProblem | None:
        """An open ticket about the same problem at the same place, if any; None also
        when it cannot be told now (the filing must never wait on this)."""

    async def follow(self, openid: str, ticket_id: str, case: Case) -> bool:
        """Follow the ticket (its pushes, one more resident); False if already following."""
