"""Sends queued status pushes to residents through WeChat.

Channel per push (:func:`policies.tickets.choose_push_channel`): a customer-service text
while the resident's 48-hour window is open and fewer than ``cs_quota`` pushes went out in
it; otherwise the status template (``WECHAT_TEMPLATE_STATUS_ID``; data ``first``,
``keyword1`` ticket id, ``keyword2`` status, ``remark``). When WeChat answers that the
window is closed after all (errcode 45015/45047), the template goes out at once.

Other failures are retried with the outbox's exponential backoff; after
``push_max_attempts`` the push is ``failed`` — listed for staff, re-queueable, never
silently lost. A push with nowhere to go (window closed, no template configured) fails at
once. Pushes of one ticket go out in order: a push waits while an older one of the same
ticket is pending. Sends are at-least-once: an answer lost in transit means a retry, and
the resident may see a message twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from integrations.db.models import PushJobRow
from integrations.notify.residents import reserve_custom_push
from integrations.tickets.core import Core
from integrations.tickets.sql import claim_due
from integrations.wechat.errors import CustomerServiceWindowClosed, WeChatAPIError, WeChatError
from integrations.wechat.redact import mask_openid
from policies.tickets import choose_push_channel

__all__ = ["PERMANENT_ERRCODES", "PushSender", "StatusMessenger"]

log = logging.getLogger("integrations.notify")

#: Answers that will not change on a retry: invalid openid, invalid template id, the
#: resident unfollowed the account, or refuses messages from it.
PERMANENT_ERRCODES = frozenset({40003, 40037, 43004, 43101})


class StatusMessenger(Protocol):
    """What the sender needs of :class:`~integrations.wechat.WeChatClient`."""

    async def send_text(self, openid: str, content: str) -> None: ...

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        url: str | None = None,
    ) -> int: ...


class _Failed(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class PushSender:
    """Claims due push jobs (leased, like the outbox) and sends them.

    ``core`` is the ticket service's (``service.core``): same database, clock and config.
    """

    def __init__(
        self,
        core: Core,
        messenger: StatusMessenger,
        *,
        worker_id: str | None = None,
        rand: Callable[[], float] = random.random,
        concurrency: int = 8,
    ) -> None:
        self.core = core
        self.messenger = messenger
        self.worker_id = worker_id or f"push-{os.getpid()}-{random.randrange(1 << 30):x}"
        self._rand = rand
        self._limit = asyncio.Semaphore(concurrency)

    async def run_once(self) -> int:
        """Send the pushes that are due now; returns how many were attempted."""
        config = self.core.config
        now = self.core.clock()
        older = aliased(PushJobRow)
        in_order = ~exists(
            select(older.id).where(
                and_(
                    older.ticket_id == PushJobRow.ticket_id,
                    older.status == "pending",
                    older.id < PushJobRow.id,
                )
            )
        )
        async with self.core.write() as session:
            ids = await claim_due(
                session,
                PushJobRow,
                worker_id=self.worker_id,
                now=now,
                lease_seconds=config.lease_seconds,
                limit=config.batch_size,
                extra=[in_order],
            )
        if ids:
            await asyncio.gather(*(self._send_one(i) for i in ids))
        return len(ids)

    async def _send_one(self, job_id: int) -> None:
        async with self._limit:
            try:
                await self._deliver(job_id)
            except SQLAlchemyError as exc:
                # The lease runs out and the push is tried again.
                log.warning("push %d: database error %s", job_id, type(exc).__name__)

    async def _deliver(self, job_id: int) -> None:
        config = self.core.config
        now = self.core.clock()

        def window_open(last_inbound: datetime | None, sent: int) -> bool:
            channel = choose_push_channel(
                last_inbound_at=last_inbound,
                now=now,
                sent_in_window=sent,
                quota=config.cs_quota,
                window=timedelta(hours=config.cs_window_hours),
                template_configured=False,
            )
            return channel == "custom"

        async with self.core.read() as session:
            job = await session.get(PushJobRow, job_id)
        if job is None or job.claimed_by != self.worker_id or job.status != "pending":
            return
        async with self.core.write() as session:
            custom = await reserve_custom_push(session, job.openid, now=now, decide=window_open)
        fallback = "template" if config.template_status_id else "none"
        channel = "custom" if custom else fallback
        try:
            via = await self._send(job, channel)
        except _Failed as exc:
            await self._record_failure(job_id, str(exc), permanent=exc.permanent)
            return
        await self._record_sent(job_id, job.openid, via)

    async def _send(self, job: PushJobRow, channel: str) -> str:
        template_id = self.core.config.template_status_id
        who = mask_openid(job.openid)
        if channel == "custom":
            try:
                await self.messenger.send_text(job.openid, job.text)
                return "custom"
            except CustomerServiceWindowClosed:
                log.info("push %d: window closed for %s, sending the template", job.id, who)
                channel = "template"
            except WeChatError as exc:
                raise _Failed(f"customer-service send: {exc}", permanent=_permanent(exc)) from None
        if channel == "template" and template_id:
            try:
                await self.messenger.send_template(job.openid, template_id, job.template_data)
                return "template"
            except WeChatError as exc:
                raise _Failed(f"template send: {exc}", permanent=_permanent(exc)) from None
        raise _Failed(
            "outside the 48-hour window and WECHAT_TEMPLATE_STATUS_ID is not set", permanent=True
        )

    async def _record_sent(self, job_id: int, openid: str, via: str) -> None:
        now = self.core.clock()
        async with self.core.write() as session:
            job = await session.get(PushJobRow, job_id, with_for_update=True)
            if job is None:
                return
            job.status, job.via, job.sent_at = "sent", via, now
            job.claimed_by = job.lease_until = None
            job.last_error = None
            job.updated_at = now
        log.info("push %d (ticket %s) sent via %s to %s", job_id, job.ticket_id, via,
                 mask_openid(openid))

    async def _record_failure(self, job_id: int, error: str, *, permanent: bool) -> None:
        config = self.core.config
        now = self.core.clock()
        async with self.core.write() as session:
            job = await session.get(PushJobRow, job_id, with_for_update=True)
            if job is None or job.claimed_by != self.worker_id or job.status != "pending":
                return
            job.claimed_by = job.lease_until = None
            job.last_error = error[:1000]
            job.updated_at = now
            if permanent or job.attempts >= config.push_max_attempts:
                job.status = "failed"
                log.warning("push %d (ticket %s) failed for good after %d attempts: %s",
                            job_id, job.ticket_id, job.attempts, error)
                return
            delay = config.backoff(job.attempts, self._rand)
            job.next_attempt_at = now + timedelta(seconds=delay)
        log.info("push %d failed (%s); retry in %.1fs", job_id, error, delay)


def _permanent(exc: WeChatError) -> bool:
    return isinstance(exc, WeChatAPIError) and exc.errcode in PERMANENT_ERRCODES
