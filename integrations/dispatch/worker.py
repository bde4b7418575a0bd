"""The outbox worker: delivers tickets to the dispatch system and keeps them in sync.

One loop does everything that happens after a ticket is written:

* delivers due outbox jobs (claimed with a lease; see :mod:`integrations.tickets.outbox`
  for retries, backoff and parking) — several jobs at once, several workers at once;
* sends due status pushes (:class:`~integrations.notify.sender.PushSender`), if given;
* every ``poll_interval``: asks the dispatch system for status changes of open tickets and
  turns tokens into ids (``resolve_token``);
* every ``escalation_interval``: records the warnings (预警) due before the working-day
  deadlines (:mod:`integrations.tickets.warnings`), then escalates embedded-desk tickets
  past their 办结 deadline;
* posts recorded warnings to ``INTAKE_WARNING_WEBHOOK_URL``, if set;
* every ``retention_interval``: purges chat text older than ``chat_retention_days``
  (:mod:`integrations.retention`).

Any number of workers may run, in any processes, on one database: a job is delivered by
the worker holding its lease; a worker that dies mid-delivery leaves its lease to expire,
and another worker delivers the job again with the same idempotency key. The lease must
outlast the slowest ``submit`` (the Open311 client gives up after about 35 s; the default
lease is 60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from core.errors import ConfigurationError, DatabaseError, DatabaseUnavailable
from core.pause import Pause
from integrations.db.engine import create_engine
from integrations.db.migrate import upgrade_database
from integrations.dispatch.base import (
    DispatchBackend,
    DispatchError,
    DispatchRejected,
    DispatchUnavailable,
)
from integrations.dispatch.embedded import EmbeddedDesk
from integrations.notify.sender import PushSender
from integrations.retention import purge_chat_text
from integrations.tickets.config import TicketConfig
from integrations.tickets.outbox import ClaimedJob, Outcome
from integrations.tickets.service import TicketService
from policies.tickets import load_grid_rules
from privacy import mask_text

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = ["OutboxWorker", "create_backend", "run_worker"]

log = logging.getLogger(__name__)

_POLL_BATCH = 200
#: A wake waits this long before the pass, so a burst of filings is one pass (one claim,
#: one record transaction) rather than a pass each; the 已派单 push comes that much later.
WAKE_GATHER_SECONDS = 0.25
_ERROR_PAUSE = 5.0


class OutboxWorker:
    """Works off the outbox of ``service`` into ``backend`` (and pushes, with ``pusher``).

    Registers itself with the service so that, in the same process, a new ticket wakes it
    at once instead of at the next ``worker_interval``.
    """

    def __init__(
        self,
        service: TicketService,
        backend: DispatchBackend,
        *,
        pusher: PushSender | None = None,
        worker_id: str | None = None,
        gather: float = WAKE_GATHER_SECONDS,
    ) -> None:
        self.service = service
        self.backend = backend
        self.pusher = pusher
        self.worker_id = worker_id or f"worker-{os.getpid()}-{random.randrange(1 << 30):x}"
        self._pause = Pause(gather)
        self._task: asyncio.Task[None] | None = None
        self._next_poll: datetime | None = None
        self._next_escalation: datetime | None = None
        self._next_purge: datetime | None = None
        service.core.add_listener(self.wake)

    def __repr__(self) -> str:
        return f"OutboxWorker({self.worker_id!r}, backend={self.backend.name!r})"

    @property
    def config(self) -> TicketConfig:
        return self.service.config

    def wake(self) -> None:
        """Something was enqueued: look at once. Not for the worker's own commits: a pass
        sends the pushes its deliveries enqueue itself, so waking for them only ran an
        empty pass after every busy one (two claim transactions for nothing)."""
        if self._task is not None and asyncio.current_task() is self._task:
            return
        self._pause.wake()

    async def run_once(self) -> int:
        """One pass: deliveries, polling / escalation / purging when due, then pushes (last,
        so the pushes the steps before enqueued go out in the same pass).

        Returns the number of outbox and push jobs processed.
        """
        processed = await self.deliver_due()
        now = self.service.now()
        if self._next_poll is None or now >= self._next_poll:
            self._next_poll = now + timedelta(seconds=self.config.poll_interval)
            await self.poll_statuses()
            await self.resolve_tokens()
        if self._next_escalation is None or now >= self._next_escalation:
            self._next_escalation = now + timedelta(seconds=self.config.escalation_interval)
            # Warnings first: an overdue clock is told before escalation starts new ones.
            await self.service.warnings.check_due()
            await self.service.rating.send_follow_ups()
            if isinstance(self.backend, EmbeddedDesk):
                await self.service.escalation.escalate_overdue(backend=self.backend.name)
        processed += await self.service.warnings.deliver()
        days = self.config.chat_retention_days
        if days and (self._next_purge is None or now >= self._next_purge):
            self._next_purge = now + timedelta(seconds=self.config.retention_interval)
            await purge_chat_text(self.service.engine, before=now - timedelta(days=days))
        if self.pusher is not None:
            processed += await self.pusher.run_once()
        return processed

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Loop until ``stop_event`` is set; errors are logged and the loop goes on."""
        log.info("%r started", self)
        self._task = asyncio.current_task()
        while not stop_event.is_set():
            pause = self.config.worker_interval
            try:
                processed = await self.run_once()
                if processed >= self.config.batch_size:
                    pause = 0.0  # more may be waiting
            except (DatabaseUnavailable, OSError) as exc:
                log.warning("worker pass failed (%s); retrying in %.0fs",
                            type(exc).__name__, _ERROR_PAUSE)
                pause = _ERROR_PAUSE
            except Exception:
                log.exception("worker pass failed; retrying in %.0fs", _ERROR_PAUSE)
                pause = _ERROR_PAUSE
            if pause:
                await self._pause.sleep(stop_event, pause)
        log.info("%r stopped", self)

    # -- deliveries -----------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Claim a batch of due jobs, deliver them concurrently, record the outcomes in one
        transaction; returns the batch size.

        A worker killed before recording leaves its leases to expire: the jobs are then
        delivered again, with the same idempotency keys.
        """
        outbox = self.service.outbox
        jobs = await outbox.claim(self.worker_id, self.config.batch_size)
        todo = [job for job in jobs if job.request is not None]
        if todo:
            outcomes = await asyncio.gather(*(self._submit(job) for job in todo))
            try:
                await outbox.record(self.worker_id, self.backend.name, outcomes)
            except (DatabaseError, SQLAlchemyError) as exc:
                # Our database failed: the leases expire and the jobs are delivered again.
                log.warning("recording %d deliveries failed: %s", len(outcomes),
                            type(exc).__name__)
        return len(jobs)

    async def _submit(self, job: ClaimedJob) -> Outcome:
        assert job.request is not None
        try:
            receipt = await self.backend.submit(job.request)
        except DispatchRejected as exc:
            return Outcome(job, error=f"rejected: {exc}", permanent=True)
        except DispatchUnavailable as exc:
            return Outcome(job, error=f"unavailable: {exc}")
        except Exception as exc:
            # A bug in a backend must not lose the job: retry it like an outage. The
            # message is masked (it may quote the ticket); the traceback only at DEBUG.
            log.error("job %d: %s.submit raised %s: %s", job.id, self.backend.name,
                      type(exc).__name__, mask_text(str(exc)))
            log.debug("traceback of job %d", job.id, exc_info=True)
            return Outcome(job, error=f"{type(exc).__name__}: {exc}")
        return Outcome(job, receipt=receipt)

    # -- polling, tokens ------------------------------------------------------------------

    async def poll_statuses(self) -> int:
        """Apply status changes the dispatch system reports; returns how many reports."""
        if not getattr(self.backend, "needs_polling", True):
            return 0
        outbox = self.service.outbox
        pairs = await outbox.tickets_to_poll(self.backend.name, _POLL_BATCH)
        if not pairs:
            return 0
        by_external = {external: ticket for ticket, external in pairs}
        try:
            statuses = await self.backend.poll(list(by_external))
        except DispatchError as exc:
            log.warning("polling %s failed: %s", self.backend.name, mask_text(str(exc)))
            return 0
        actor = f"dispatch:{self.backend.name}"
        for status in statuses:
            ticket_id = by_external.get(status.external_id)
            if ticket_id is None:
                continue
            try:
                await self.service.reports.apply_external_status(
                    ticket_id, status.external_id, status.status, status.note, actor
                )
            except DispatchError as exc:  # pragma: no cover - defensive
                log.warning("ticket %s: %s", ticket_id, exc)
        await outbox.mark_polled([ticket for ticket, _ in pairs])
        return len(statuses)

    async def resolve_tokens(self) -> int:
        """Turn tokens from ``submit`` into downstream ids; returns how many resolved."""
        outbox = self.service.outbox
        pending = await outbox.pending_tokens(self.backend.name, _POLL_BATCH)
        resolved = 0
        max_age = timedelta(seconds=self.config.token_max_age)
        now = self.service.now()
        for item in pending:
            try:
                external_id = await self.backend.resolve_token(item.token)
            except DispatchError as exc:
                log.warning("resolving a token of %s failed: %s", item.ticket_id,
                            mask_text(str(exc)))
                continue
            if external_id:
                await outbox.token_outcome(item, self.backend.name, external_id)
                resolved += 1
            elif item.delivered_at is not None and now - item.delivered_at > max_age:
                await outbox.token_outcome(item, self.backend.name, None)
        return resolved


# -- wiring -------------------------------------------------------------------------------


def create_backend(settings: Settings, *, service: TicketService) -> DispatchBackend:
    """The backend ``DISPATCH_BACKEND`` names: ``embedded`` (default) or ``open311``
    (configured by the ``OPEN311_*`` settings)."""
    if settings.dispatch.backend == "open311":
        from integrations.dispatch.open311 import Open311Backend, Open311Config

        config = Open311Config.from_settings(settings.open311)
        if config is None:
            raise ConfigurationError("DISPATCH_BACKEND=open311 needs OPEN311_URL")
        return Open311Backend(config)
    return EmbeddedDesk(
        service.engine,
        taxonomy=service.core.taxonomy,
        grid_rules=load_grid_rules(service.config.grid_rules_file),
        clock=service.core.clock,
    )


async def run_worker(
    settings: Settings,
    stop_event: asyncio.Event,
    *,
    backend: DispatchBackend | None = None,
) -> None:
    """Everything ``intake worker`` needs: migrate, build, loop until ``stop_event``.

    ``backend`` (default: ``DISPATCH_BACKEND``) can be injected; what this function builds,
    it closes.
    """
    config = TicketConfig.from_settings(settings)
    url = settings.effective_database_url
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    closers: list[Any] = []
    try:
        service = TicketService(engine, config=config)
        if backend is None:
            backend = create_backend(settings, service=service)
            closers.append(backend)
        pusher: PushSender | None = None
        if settings.wechat.app_id and settings.wechat.app_secret:
            from integrations.state import create_store
            from integrations.wechat import WeChatClient

            store = create_store(settings.redis_url)
            client = WeChatClient(
                app_id=settings.wechat.app_id,
                app_secret=settings.wechat.app_secret,
                base_url=settings.wechat.api_base_url,
                store=store,
            )
            closers.extend([client, store])
            pusher = PushSender(service.core, client)
        else:
            log.warning("no WeChat credentials: status pushes stay queued")
        worker = OutboxWorker(service, backend, pusher=pusher)
        # The worker process keeps the problem clusters and sends the analytics alerts.
        from integrations.analytics.service import Analytics, AnalyticsConfig

        analytics = Analytics(
            service,
            AnalyticsConfig(
                webhook_url=settings.analytics.webhook_url,
                webhook_secret=settings.analytics.webhook_secret,
                check_interval=settings.analytics.check_seconds,
            ),
        )
        await asyncio.gather(worker.run_forever(stop_event), analytics.run(stop_event))
    finally:
        for resource in closers:
            closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        await engine.dispose()
