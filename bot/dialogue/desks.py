"""The conversation's ports implemented by the ticket service and the handoff service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.dialogue.ports import ChatLine, TicketView
from bot.periodic import run_every
from core.errors import DatabaseUnavailable
from integrations.handoffs import HandoffService
from integrations.tickets import TicketService
from integrations.tickets.deferred import DeferredFilings
from integrations.tickets.model import Ticket
from integrations.training.review import ReviewCandidate, ReviewQueue
from policies.state import Case
from privacy import Sealer, SealError, is_sealed

__all__ = ["BufferedReview", "ServiceHandoffDesk", "ServiceTicketDesk"]

log = logging.getLogger(__name__)

#: The 48-hour window is tracked to this precision, so a chatty resident costs one database
#: write per quarter of an hour and web process, not one per message.
INBOUND_RESOLUTION = 900.0


def _view(ticket: Ticket) -> TicketView:
    return TicketView(
        id=ticket.id,
        category=ticket.category,
        status=ticket.status,
        department=ticket.department,
        urgent=ticket.urgent,
        solved=ticket.solved,
        follow_up=ticket.follow_up,
    )


class ServiceTicketDesk:
    """:class:`~bot.dialogue.ports.TicketDesk` on :class:`TicketService`.

    While the database cannot be reached, a confirmed complaint goes to ``deferred`` (filed
    when the database is back; its phone number sealed with ``sealer`` while it waits in
    the state store) and lookups that only help the conversation answer empty.
    """

    def __init__(
        self,
        service: TicketService,
        deferred: DeferredFilings | None = None,
        *,
        sealer: Sealer,
    ) -> None:
        self.service = service
        self.deferred = deferred
        self.sealer = sealer
        self._inbound: dict[str, datetime] = {}
        #: residents this process noted: until when (monotonic) their next messages are not
        #: noted again, and the number of their time in noting order (see flush_inbound)
        self._noted_until: dict[str, tuple[float, int]] = {}
        self._next_sweep = 0.0
        #: times noted so far, and how many of them are on record (in noting order)
        self._noted = 0
        self._recorded = 0
        #: the write under way, shared by every caller that needs it (see flush_inbound)
        self._flush: asyncio.Future[bool] | None = None

    async def create_from_case(
        self,
        openid: str,
        case: Case,
        chat: Sequence[ChatLine] = (),
        source_key: str | None = None,
    ) -> TicketView | None:
        assert case.location and case.description
        filing: dict[str, Any] = {
            "category": case.category,
            "description": case.description,
            "location": case.location,
            "phone": case.phone or "",
            "openid": openid,
            "urgent": True if case.urgent else None,
            "photos": list(case.photos),
            "latitude": case.latitude,
            "longitude": case.longitude,
            "chat": [dict(line) for line in chat],
            "source_key": source_key,
        }
        try:
            # Status pushes check the resident's 48-hour window: it must be on record.
            await self.flush_inbound(openid)
            ticket = await self.service.filing.file(**filing)
        except DatabaseUnavailable:
            if self.deferred is None or source_key is None:
                raise
            phone = filing["phone"]
            if phone:
                filing["phone"] = self.sealer.seal(phone, context=openid)
            await self.deferred.add(filing)
            return None
        return _view(ticket)

    async def file_deferred(self, filing: dict[str, Any]) -> Ticket:
        """File a complaint kept while the database was down (same ``source_key``)."""
        phone = str(filing.get("phone") or "")
        if is_sealed(phone):
            try:
                phone = self.sealer.open(phone, context=str(filing.get("openid") or ""))
            except SealError:
                # The key changed without the previous one kept: file it all the same;
                # staff see no phone and reach the resident through the chat.
                log.warning("a deferred complaint's phone number could not be opened")
                phone = ""
        return await self.service.filing.file(**{**filing, "phone": phone})

    async def for_resident(self, openid: str, *, open_only: bool = True) -> list[TicketView]:
        # The few columns a reply shows, in one statement (not whole tickets).
        found = await self.service.lookups.tickets(openid, open_only=open_only)
        return [
            TicketView(
                id=t.id,
                category=t.category,
                status=t.status,
                department=t.department,
                urgent=t.urgent,
                solved=t.solved,
                follow_up=t.follow_up,
            )
            for t in found
        ]

    async def last_phone(self, openid: str) -> str | None:
        try:
            return await self.service.lookups.last_phone(openid)
        except DatabaseUnavailable:
            log.warning("database unreachable: no remembered phone number")
            return None

    async def rate(self, openid: str, ticket_id: str, rating: str, reason: str | None) -> None:
        await self.service.rating.rate(ticket_id, rating, reason, openid=openid)

    async def answer_solved(
        self, openid: str, ticket_id: str, solved: bool, words: str | None
    ) -> None:
        await self.service.rating.answer_solved(ticket_id, solved, words, openid=openid)

    async def answer_follow_up(
        self, openid: str, ticket_id: str, recurred: bool, words: str | None
    ) -> TicketView | None:
        first = await self.service.rating.answer_follow_up(
            ticket_id, recurred, words, openid=openid
        )
        if not recurred:
            return None
        said = f"（回访时群众反映：{words}）" if words else "（回访时群众反映问题再次出现）"
        again = await self.service.filing.file(
            category=first.category,
            description=f"{first.description}{said}",
            location=first.location,
            phone=first.phone,
            openid=openid,
            urgent=first.urgent,
            repeat_of=first.repeat_of or first.id,
            source_key=f"follow-up:{first.id}",
        )
        return _view(again)

    async def awaiting_follow_up(self, openid: str) -> list[str]:
        try:
            mine = await self.service.queries.list_for_resident(openid, open_only=False)
        except DatabaseUnavailable:
            return []
        return [t.id for t in mine if t.follow_up == "asked"]

    async def record_inbound(self, openid: str) -> None:
        now = time.monotonic()
        noted = self._noted_until.get(openid)
        if noted is not None and noted[0] > now:
            return  # noted by this process less than INBOUND_RESOLUTION ago
        # Each process notes a resident at most once a quarter of an hour, and writes in
        # batches (one transaction a second). No mark in the shared store: asking it cost a
        # round trip on the very messages that get noted, to save at most one row of a
        # batched upsert per other web process (the upsert never moves a time back).
        self._inbound[openid] = self.service.now()
        self._noted += 1
        self._noted_until[openid] = (now + INBOUND_RESOLUTION, self._noted)

    async def flush_inbound(self, openid: str | None = None) -> None:
        """Write the residents' latest message times noted since the last flush; returns
        once every time noted before the call is on record (or kept, the database away).
        With ``openid``, once that resident's time is: a filing or a push needs only its
        own resident's window, and that time is most often written already by the
        periodic flush (residents take seconds between messages), so no write waits.

        Callers share the write under way: a caller that needs the times on record (a
        complaint about to be filed, a push about to check the resident's window) waits
        for it rather than find the buffer emptied and read the window before that write
        commits, and starts the next write only if times it needs came after. One write at
        a time, each taking whatever is buffered: confirmations arriving together cost one
        or two writes, not one each in a queue.
        """
        if openid is None:
            needed = self._noted
        else:
            noted = self._noted_until.get(openid)
            needed = noted[1] if noted is not None else 0  # not noted: nothing to wait for
        while self._recorded < needed:
            flush = self._flush
            if flush is None or flush.done():  # (done: its callback has not run yet)
                flush = self._flush = asyncio.ensure_future(self._flush_inbound())
                flush.add_done_callback(self._flush_done)
            # Shielded: a caller that gives up does not cancel a write others wait for.
            if not await asyncio.shield(flush):
                return  # kept for the next round: the database is away
        self._sweep_noted()

    def _flush_done(self, flush: asyncio.Future[bool]) -> None:
        if self._flush is flush:
            self._flush = None
        if not flush.cancelled():
            flush.exception()  # retrieved: every waiter is handed it by its own await

    def _sweep_noted(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 60.0
            self._noted_until = {k: v for k, v in self._noted_until.items() if v[0] > now}

    async def _flush_inbound(self) -> bool:
        """Write what is buffered; ``False`` when it is kept because the database is away."""
        upto = self._noted
        items, self._inbound = list(self._inbound.items()), {}
        try:
            if items:
                await self.service.windows.record_inbound_many(items)
        except Exception as exc:
            # Whatever failed (an outage, or a connection cut in the middle of the write, which
            # need not surface as DatabaseUnavailable), the times are kept for the next round:
            # a start lost would leave the window closed, and the ticket number a complaint
            # filed after an outage gets pushed would be refused.
            for openid, at in items:
                self._inbound.setdefault(openid, at)
            if not isinstance(exc, DatabaseUnavailable):
                raise  # logged by the caller, with its traceback
            log.warning("database unreachable: %d inbound times wait", len(items))
            return False
        self._recorded = max(self._recorded, upto)
        return True

    async def run_inbound_flusher(self, stop: asyncio.Event, every: float = 1.0) -> None:
        await run_every(every, stop, self.flush_inbound, "writing inbound times")


class ServiceHandoffDesk:
    """:class:`~bot.dialogue.ports.HandoffDesk` on :class:`HandoffService`."""

    def __init__(self, service: HandoffService) -> None:
        self.service = service

    async def active(self, openid: str) -> bool:
        try:
            return await self.service.active(openid)
        except DatabaseUnavailable:
            log.warning("database unreachable: handoff state unknown, the bot answers")
            return False

    async def start(self, openid: str, reason: str, chat: Sequence[ChatLine] = ()) -> None:
        handoff = await self.service.start(openid, reason)
        if chat and not (await self.service.get(handoff.id)).transcript:
            # Staff see what was said before the resident asked for a person.
            for line in chat:
                await self.service.record(openid, line["role"], line["text"])

    async def record(self, openid: str, role: str, text: str) -> None:
        await self.service.record(openid, role, text)


class BufferedReview:
    """:class:`~bot.dialogue.ports.ReviewSink` that queues messages for review in batches,
    once a second in one transaction, so a resident's reply never waits for that write.

    At most ``limit`` messages wait; beyond that new ones are dropped (logged), which only
    costs admins some examples while the database is slow or away.
    """

    def __init__(self, queue: ReviewQueue, *, limit: int = 2000) -> None:
        self.queue = queue
        self.limit = limit
        self._pending: list[ReviewCandidate] = []

    async def add(self, candidate: ReviewCandidate) -> None:
        if len(self._pending) >= self.limit:
            log.warning("review buffer full: a message for review was dropped")
            return
        self._pending.append(candidate)

    async def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            await self.queue.add_many(batch)

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        await run_every(every, stop, self.flush, "queueing messages for review")
