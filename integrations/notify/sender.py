"""Sends queued status pushes to residents through WeChat.

Channel per push (:func:`policies.tickets.choose_push_channel`): a customer-service text
while the resident's 48-hour window is open and fewer than ``cs_quota`` texts went out in
it (counted by :func:`integrations.notify.customer_service.take_quota`, like every other
text to the resident); otherwise the status template (``WECHAT_TEMPLATE_STATUS_ID``; data ``first``,
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
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from core.errors import DatabaseError
from integrations.db.models import PushJobRow
from integrations.notify.customer_service import take_quota
from integrations.notify.residents import lock_residents
from integrations.tickets.core import Core
from integrations.tickets.sql import claim_due
from integrations.wechat.errors import CustomerServiceWindowClosed, WeChatAPIError, WeChatError
from policies.tickets import PushChannel, choose_push_channel
from privacy import mask_openid

__all__ = ["PERMANENT_ERRCODES", "PushSender", "StatusMessenger"]

log = logging.getLogger("integrations.notify")

#: Answers that will not change on a retry: invalid openid, invalid template id, the
#: resident unfollowed the account, or refuses messages from it.
PERMANENT_ERRCODES = frozenset({40003, 40037, 43004, 43101})


class StatusMessenger(Protocol):
    """What the sender uses of :class:`~integrations.wechat.WeChatClient` (the benchmark
    passes one that accepts everything at once)."""

    async def send_text(self, openid: str, content: str) -> None: ...

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str]
    ) -> object: ...


@dataclass(frozen=True, slots=True)
class _Planned:
    """A claimed push and the channel chosen for it at claim time."""

    id: int
    ticket_id: str
    openid: str
    text: str
    template_data: dict[str, str]
    channel: PushChannel


@dataclass(frozen=True, slots=True)
class _Result:
    push: _Planned
    via: str | None = None
    error: str | None = None
    permanent: bool = False


class PushSender:
    """Claims due push jobs (leased, like the outbox) and sends them.

    One transaction claims a batch and picks each push's channel (taking customer-service
    quota under the residents' row locks), the sends run concurrently, one transaction
    records the results. ``core`` is the ticket service's (``service.core``).
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
        planned = await self._claim()
        if planned:
            results = await asyncio.gather(*(self._send(p) for p in planned))
            try:
                await self._record(results)
            except (DatabaseError, SQLAlchemyError) as exc:
                # The leases run out and the pushes are tried again (at-least-once).
                log.warning("recording %d pushes failed: %s", len(results),
                            type(exc).__name__)
        return len(planned)

    async def _claim(self) -> list[_Planned]:
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
            if not ids:
                return []
            jobs = list(
                (
                    await session.execute(
                        select(PushJobRow).where(PushJobRow.id.in_(ids)).order_by(PushJobRow.id)
                    )
                ).scalars()
            )
            residents = await lock_residents(session, (job.openid for job in jobs))
            planned = []
            for job in jobs:
                refusal = take_quota(residents.get(job.openid), now=now, config=config)
                channel = choose_push_channel(
                    refusal, template_configured=bool(config.template_status_id)
                )
                planned.append(
                    _Planned(
                        job.id, job.ticket_id, job.openid, job.text,
                        dict(job.template_data), channel,
                    )
                )
            return planned

    async def _send(self, push: _Planned) -> _Result:
        async with self._limit:
            template_id = self.core.config.template_status_id
            channel = push.channel
            if channel == "custom":
                try:
                    await self.messenger.send_text(push.openid, push.text)
                    return _Result(push, via="custom")
                except CustomerServiceWindowClosed:
                    log.info("push %d: window closed for %s, sending the template", push.id,
                             mask_openid(push.openid))
                    channel = "template"
                except WeChatError as exc:
                    return _Result(
                        push, error=f"customer-service send: {exc}", permanent=_permanent(exc)
                    )
            if channel == "template" and template_id:
                try:
                    await self.messenger.send_template(
                        push.openid, template_id, push.template_data
                    )
                    return _Result(push, via="template")
                except WeChatError as exc:
                    return _Result(push, error=f"template send: {exc}", permanent=_permanent(exc))
            return _Result(
                push,
                error="outside the 48-hour window and WECHAT_TEMPLATE_STATUS_ID is not set",
                permanent=True,
            )

    async def _record(self, results: list[_Result]) -> None:
        config = self.core.config
        now = self.core.clock()
        async with self.core.write() as session:
            rows = {
                row.id: row
                for row in (
                    await session.execute(
                        select(PushJobRow)
                        .where(PushJobRow.id.in_([r.push.id for r in results]))
                        .order_by(PushJobRow.id)
                        .with_for_update()
                    )
                ).scalars()
            }
            for result in results:
                job = rows.get(result.push.id)
                if job is None:
                    continue
                who = mask_openid(job.openid)
                if result.via is not None:
                    # Sent is sent, whoever holds the lease by now.
                    job.status, job.via, job.sent_at = "sent", result.via, now
                    job.claimed_by = job.lease_until = None
                    job.last_error = None
                    job.updated_at = now
                    log.info("push %d (ticket %s) sent via %s to %s", job.id, job.ticket_id,
                             result.via, who)
                    continue
                if job.claimed_by != self.worker_id or job.status != "pending":
                    continue  # the lease ran out; another sender has it now
                error = (result.error or "unknown error")[:1000]
                job.claimed_by = job.lease_until = None
                job.last_error = error
                job.updated_at = now
                if result.permanent or job.attempts >= config.push_max_attempts:
                    job.status = "failed"
                    log.warning("push %d (ticket %s) to %s failed for good after %d attempts: "
                                "%s", job.id, job.ticket_id, who, job.attempts, error)
                    continue
                delay = config.backoff(job.attempts, self._rand)
                job.next_attempt_at = now + timedelta(seconds=delay)
                log.info("push %d to %s failed (%s); retry in %.1fs", job.id, who, error, delay)


def _permanent(exc: WeChatError) -> bool:
    return isinstance(exc, WeChatAPIError) and exc.errcode in PERMANENT_ERRCODES
