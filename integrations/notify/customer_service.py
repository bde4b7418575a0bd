"""Customer-service texts to residents, each counted against WeChat's window and our quota.

WeChat takes customer-service texts to a resident only within 48 hours of their last
message, and a limited number of them (``INTAKE_CS_QUOTA`` per window; the rule is
:func:`policies.tickets.customer_service_refusal`). Every such text counts: status pushes
(:mod:`integrations.notify.sender`), late replies, staff replies and the ticket number of a
complaint filed later. :func:`take_quota` is the one place a text is counted;
:class:`QuotaPusher` is what the bot pushes texts through.

A text that answers a message (a late reply, a staff reply) passes when the resident wrote
(``resident_wrote_at``): a new window opens then, so the count starts again at the message
it answers, not at the last message on record (recorded at most every quarter of an hour).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from core.errors import DatabaseUnavailable, IntakeError
from integrations.notify.residents import (
    ResidentWindow,
    lock_residents,
    record_inbound_many,
    save_windows,
)
from policies.tickets import CustomerServiceRefusal, customer_service_refusal
from privacy import mask_openid

if TYPE_CHECKING:  # the ticket package wires these windows into its services
    from integrations.tickets.config import TicketConfig
    from integrations.tickets.core import Core

__all__ = ["CustomerServiceRefused", "QuotaPusher", "ResidentWindows", "take_quota"]

log = logging.getLogger("integrations.notify")


class CustomerServiceRefused(IntakeError):
    """No customer-service text may go to this resident now: ``why`` is ``window_closed``
    (no message from them in the window) or ``over_quota`` (the window's quota is used)."""

    def __init__(self, why: CustomerServiceRefusal) -> None:
        super().__init__(
            "the resident's 48-hour window is closed"
            if why == "window_closed"
            else "the customer-service quota of the resident's window is used up"
        )
        self.why = why


def take_quota(
    resident: ResidentWindow | None, *, now: datetime, config: TicketConfig
) -> CustomerServiceRefusal | None:
    """Count one customer-service text to the (locked) ``resident``, or say why it may not
    go out; the caller writes the count (:func:`integrations.notify.residents.save_windows`).
    Counted before sending, even if the send then fails: WeChat may have counted it too (an
    answer lost in transit); erring low only costs a template or a retry later."""
    refusal = customer_service_refusal(
        last_inbound_at=resident.last_inbound_at if resident else None,
        now=now,
        sent_in_window=resident.cs_sent if resident else 0,
        quota=config.cs_quota,
        window=timedelta(hours=config.cs_window_hours),
    )
    if refusal is None and resident is not None:
        resident.cs_sent += 1
        resident.updated_at = now
    return refusal


class ResidentWindows:
    """Each resident's customer-service window: when they last wrote, and the texts
    counted against it (table ``residents``)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def record_inbound(self, openid: str, at: datetime | None = None) -> None:
        """The resident wrote to us at ``at`` (now): their window (re)opens."""
        await self.record_inbound_many([(openid, at or self.core.now())])

    async def record_inbound_many(self, items: Sequence[tuple[str, datetime]]) -> None:
        """Several residents' latest messages in one transaction."""
        if not items:
            return
        latest: dict[str, datetime] = {}
        for openid, at in items:
            latest[openid] = max(at, latest.get(openid, at))
        async with self.core.write() as session:
            # Sorted: one lock order for every writer.
            await record_inbound_many(session, sorted(latest.items()))

    async def take(
        self, openid: str, *, wrote_at: datetime | None = None
    ) -> CustomerServiceRefusal | None:
        """Count one text to ``openid`` (``None``), or say why it may not go out.
        ``wrote_at``: the resident's message the text answers (it opens a window)."""
        now = self.core.now()
        async with self.core.write() as session:
            if wrote_at is not None:
                await record_inbound_many(session, [(openid, min(wrote_at, now))])
            residents = await lock_residents(session, [openid])
            refusal = take_quota(residents.get(openid), now=now, config=self.core.config)
            await save_windows(session, residents.values())
            return refusal


class _SendsText(Protocol):
    async def send_text(self, openid: str, content: str) -> None: ...


class QuotaPusher:
    """Pushes texts (the bot's :class:`~bot.channel.Pusher`) through the customer-service
    API, each counted by :class:`ResidentWindows`; raises :class:`CustomerServiceRefused`
    instead of sending when the window is closed or its quota used.

    ``before`` runs first, given the resident (the bot writes the message time it buffers
    for them, so their window is on record). While the database cannot be reached the
    text goes out uncounted: answering the resident matters more than the count, and
    WeChat still refuses what it must.
    """

    def __init__(
        self,
        windows: ResidentWindows,
        messenger: _SendsText,
        *,
        before: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.windows = windows
        self.messenger = messenger
        self.before = before

    async def push_text(
        self, openid: str, text: str, *, resident_wrote_at: datetime | None = None
    ) -> None:
        if self.before is not None:
            await self.before(openid)
        try:
            refusal = await self.windows.take(openid, wrote_at=resident_wrote_at)
        except DatabaseUnavailable:
            log.warning("database unreachable: text to %s sent uncounted", mask_openid(openid))
            refusal = None
        if refusal is not None:
            log.info("text to %s not sent: %s", mask_openid(openid), refusal)
            raise CustomerServiceRefused(refusal)
        await self.messenger.send_text(openid, text)
