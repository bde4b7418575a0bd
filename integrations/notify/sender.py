"""Sends queued status pushes to residents, falling back channel by channel until one arrives.

The chain (:mod:`policies.pushes`), each step tried only when the one before did not
deliver:

1. a customer-service text while the resident's 48-hour window is open and fewer than
   ``cs_quota`` texts went out in it (counted by
   :func:`integrations.notify.customer_service.take_quota`, like every other text);
2. the status template (``WECHAT_TEMPLATE_STATUS_ID``; data ``first``, ``keyword1``
   ticket id, ``keyword2`` status, ``remark``);
3. a subscription message (订阅通知, ``WECHAT_SUBSCRIBE_TEMPLATE_ID``) when the resident's
   consent is on record (:mod:`integrations.notify.consents`; a one-time consent is used
   up by the send);
4. the operator's SMS hook (``INTAKE_SMS_HOOK_URL``, :mod:`integrations.notify.sms`) with the
   ticket's phone (not for followers: that phone is the filer's).

A refusal (a WeChat errcode, a 4xx of the hook) moves to the next step at once; a
transient failure (network, HTTP 5xx, errcode -1) retries the whole push later with the
outbox's exponential backoff, and after ``push_max_attempts`` it is ``failed``. When every
step refused or was skipped the push is ``failed`` at once. A failed push is undelivered:
a timeline note tells staff to phone the resident, and staff may re-queue it.

**Every step is on record** (table ``push_attempts``, shown with the ticket): a row is
written *before* each send (outcome ``sending``), in a transaction that checks this worker
still holds the push's lease and renews it, and finished with the outcome, WeChat's errcode
and the delivering channel. That is what keeps a delivered push from going out twice:

* two workers never send one push: the lease is checked and renewed before every step;
* a delivery whose recording failed (database down) is kept in memory and recorded before
  this worker claims anything else;
* a send whose answer was lost (a read timeout, a connection dropped mid-answer — WeChat
  may have delivered it; the client does not repeat it either), and a push another worker
  left ``sending`` when its lease ran out, are ``unknown``: never sent again by themselves,
  shown as undelivered for staff to check and re-queue.

Pushes of one ticket go out in order: a push waits while an older one of the same ticket
is pending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Table, bindparam, exists, insert, literal_column, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from core.errors import DatabaseError
from integrations.db.models import PushAttemptRow, PushJobRow, TicketRow
from integrations.notify.consents import drop_consent, give_back_consent, take_consent
from integrations.notify.customer_service import take_quota
from integrations.notify.residents import lock_residents, save_windows
from integrations.notify.sms import SmsFailed, SmsHook, SmsInDoubt, SmsMessage, SmsRefused
from integrations.tickets.core import Core, add_event
from integrations.tickets.sql import claim_due, claim_statement, update_by_id
from integrations.wechat.errors import WeChatAPIError, WeChatError, WeChatNetworkError
from policies.pushes import (
    SUBSCRIPTION_REFUSED,
    PushStep,
    is_refusal,
    parse_subscription_fields,
    push_plan,
    sms_text,
    step_summary,
    subscription_data,
    timeline_push_delivered_late,
    timeline_push_undelivered,
)
from policies.tickets import status_label
from privacy import mask_openid, mask_text

__all__ = ["PushSender", "StatusMessenger"]

log = logging.getLogger("integrations.notify")

_MAX_DETAIL = 1000
_ATTEMPTS = cast(Table, PushAttemptRow.__table__)


_JOBS = cast(Table, PushJobRow.__table__)
_TICKETS = cast(Table, TicketRow.__table__)
_OLDER = _JOBS.alias("older")
# RETURNING names its columns without their table, in subqueries too, where ``id`` or
# ``openid`` would then be the subquery's own: the claimed row's are spelt out.
_CLAIMED_ID: ColumnClause[Any] = literal_column(f"{_JOBS.name}.id")
_CLAIMED_TICKET: ColumnClause[Any] = literal_column(f"{_JOBS.name}.ticket_id")
_CLAIMED_OPENID: ColumnClause[Any] = literal_column(f"{_JOBS.name}.openid")
# The claim, built once: pushes of one ticket go out in order (none while an older one is
# pending); it returns what the send needs, the ticket's phone (not for a follower's push:
# that phone is the filer's) and whether another worker left a ``sending`` step behind,
# so the usual batch costs no read besides the residents' (issue 16).
_CLAIM = claim_statement(
    PushJobRow,
    extra=[
        ~exists(
            select(_OLDER.c.id).where(
                _OLDER.c.ticket_id == _JOBS.c.ticket_id,
                _OLDER.c.status == "pending",
                _OLDER.c.id < _JOBS.c.id,
            )
        )
    ],
    returning=(
        _JOBS.c.ticket_id,
        _JOBS.c.openid,
        _JOBS.c.ticket_status,
        _JOBS.c.text,
        _JOBS.c.template_data,
        _JOBS.c.attempts,
        select(_TICKETS.c.phone)
        .where(_TICKETS.c.id == _CLAIMED_TICKET, _TICKETS.c.openid == _CLAIMED_OPENID)
        .scalar_subquery(),
        exists(
            select(_ATTEMPTS.c.id).where(
                _ATTEMPTS.c.push_id == _CLAIMED_ID, _ATTEMPTS.c.outcome == "sending"
            )
        ),
    ),
)


class _Claimed(NamedTuple):
    """A push as the claim returns it (:data:`_CLAIM`)."""

    id: int
    ticket_id: str
    openid: str
    ticket_status: str
    text: str
    template_data: dict[str, str]
    attempts: int
    phone: str | None
    in_doubt: bool


class _Locked(NamedTuple):
    """A push as :meth:`PushSender._record` reads it (:data:`_LOCK`)."""

    id: int
    ticket_id: str
    openid: str
    ticket_status: str
    attempts: int
    status: str
    claimed_by: str | None


_LOCK = (
    select(_JOBS.c.id, _JOBS.c.ticket_id, _JOBS.c.openid, _JOBS.c.ticket_status,
           _JOBS.c.attempts, _JOBS.c.status, _JOBS.c.claimed_by)
    .where(_JOBS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_JOBS.c.id)
    .with_for_update()
)


class StatusMessenger(Protocol):
    """What the sender uses of :class:`~integrations.wechat.WeChatClient` (the benchmark
    passes one that accepts everything at once)."""

    async def send_text(
        self, openid: str, content: str, *, retry_in_doubt: bool = True
    ) -> None: ...

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        url: str | None = None,
        *,
        retry_in_doubt: bool = True,
    ) -> object: ...

    async def send_subscription(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        page: str | None = None,
        retry_in_doubt: bool = True,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class _Planned:
    """A claimed push, what the chain may try, and the attempt row of its first step."""

    job: _Claimed
    steps: tuple[PushStep, ...]
    #: the ``sending`` row written at claim time for the first step tried, if any
    first_attempt: int | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How one send went: ``delivered``, ``refused``, ``failed`` (transient) or ``unknown``."""

    outcome: str
    errcode: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class _Refused:
    """A step refused, recorded when the next one starts (or with the push's end)."""

    attempt: int
    outcome: _Outcome
    consent: str | None


@dataclass(slots=True)
class _Result:
    """Where a push ended this round; written by :meth:`PushSender._record`."""

    push: _Planned
    #: ``sent``, ``retry`` (transient), ``undelivered`` (every step refused or skipped),
    #: ``unknown`` (an answer lost), ``lost`` (another worker holds it now)
    end: str
    via: str | None = None
    attempt: int | None = None
    outcome: _Outcome | None = None
    #: steps skipped after the last attempt row was written (written with the result)
    skipped: list[PushStep] = field(default_factory=list)
    #: the consent kind a subscription send took (settled when its outcome is written)
    consent: str | None = None


class PushSender:
    """Claims due push jobs (leased, like the outbox) and sends each down the chain.

    One transaction claims a batch (taking customer-service quota under the residents' row
    locks and writing each first step's ``sending`` row), the sends run concurrently, each
    further step starts with its own small transaction, and one transaction records the
    batch's ends. ``core`` is the ticket service's (``service.core``); ``sms`` defaults to
    the hook configured in ``core.config`` (none: that step is skipped).
    """

    def __init__(
        self,
        core: Core,
        messenger: StatusMessenger,
        *,
        worker_id: str | None = None,
        rand: Callable[[], float] = random.random,
        concurrency: int = 8,
        sms: SmsHook | None = None,
    ) -> None:
        self.core = core
        self.messenger = messenger
        self.worker_id = worker_id or f"push-{os.getpid()}-{random.randrange(1 << 30):x}"
        self._rand = rand
        self._limit = asyncio.Semaphore(concurrency)
        config = core.config
        if sms is None and config.sms_hook_url:
            sms = SmsHook(config.sms_hook_url, secret=config.sms_hook_secret)
        self.sms = sms
        self._subscription = parse_subscription_fields(config.subscription_fields)
        #: ends not yet on record (the database failed): recorded before the next claim
        self._unrecorded: list[_Result] = []

    async def run_once(self) -> int:
        """Send the pushes that are due now; returns how many were attempted."""
        if self._unrecorded:
            try:
                await self._record(self._unrecorded)
            except (DatabaseError, SQLAlchemyError) as exc:
                log.warning("recording %d earlier pushes failed again: %s",
                            len(self._unrecorded), type(exc).__name__)
                return 0  # nothing new while what went out is not on record
            self._unrecorded = []
        planned = await self._claim()
        if planned:
            results = await asyncio.gather(*(self._send(p) for p in planned))
            try:
                await self._record(results)
            except (DatabaseError, SQLAlchemyError) as exc:
                # Kept, and recorded before anything else is claimed: a delivered push
                # must never look undelivered to the next claim.
                log.warning("recording %d pushes failed: %s", len(results),
                            type(exc).__name__)
                self._unrecorded = [r for r in results if r.end != "lost"]
        return len(planned)

    # -- claiming ---------------------------------------------------------------------------

    async def _claim(self) -> list[_Planned]:
        config = self.core.config
        now = self.core.clock()
        async with self.core.write() as session:
            claimed = [
                _Claimed(*row)
                for row in await claim_due(
                    session,
                    _CLAIM,
                    worker_id=self.worker_id,
                    now=now,
                    lease_seconds=config.lease_seconds,
                    limit=config.batch_size,
                )
            ]
            if not claimed:
                return []
            if any(job.in_doubt for job in claimed):
                claimed = await self._settle_in_doubt(session, claimed, now)
            residents = await lock_residents(session, (job.openid for job in claimed))
            plans = []
            attempts: list[dict[str, Any]] = []
            for job in claimed:
                refusal = take_quota(residents.get(job.openid), now=now, config=config)
                steps = push_plan(
                    window_refusal=refusal,
                    template_configured=bool(config.template_status_id),
                    subscription_configured=bool(config.subscription_template_id),
                    sms_configured=self.sms is not None,
                    has_phone=bool(job.phone),
                )
                attempts += self._first_rows(job.id, job.ticket_id, steps, now)
                plans.append((job, steps))
            await save_windows(session, residents.values())
            first = await self._insert_first_rows(session, attempts)
            return [_Planned(job, steps, first.get(job.id)) for job, steps in plans]

    async def _settle_in_doubt(
        self, session: AsyncSession, claimed: list[_Claimed], now: datetime
    ) -> list[_Claimed]:
        """Jobs another worker left mid-send (its lease ran out before it recorded the
        answer) may have reached the resident: they become undelivered-unknown, for staff,
        instead of going out again. Returns the jobs still to send."""
        doubtful = [job.id for job in claimed if job.in_doubt]
        open_attempts = list(
            (
                await session.execute(
                    select(PushAttemptRow)
                    .where(
                        PushAttemptRow.push_id.in_(doubtful),
                        PushAttemptRow.outcome == "sending",
                    )
                    .order_by(PushAttemptRow.id)
                )
            ).scalars()
        )
        in_doubt = {attempt.push_id: attempt for attempt in open_attempts}
        for attempt in open_attempts:
            attempt.outcome, attempt.finished_at = "unknown", now
            attempt.detail = (
                f"worker {attempt.worker} stopped before the answer was recorded"
            )[:_MAX_DETAIL]
        given_up = [job for job in claimed if job.id in in_doubt]
        tickets = {
            row.id: row
            for row in (
                await session.execute(
                    select(TicketRow).where(TicketRow.id.in_({j.ticket_id for j in given_up}))
                )
            ).scalars()
        }
        changes: dict[int, dict[str, Any]] = {}
        for job in given_up:
            left = in_doubt[job.id]
            changes[job.id] = await self._undelivered(
                session, job, tickets.get(job.ticket_id), now,
                error=f"{left.channel}: {left.detail}; not sent again automatically",
            )
        await update_by_id(session, _JOBS, changes)
        return [job for job in claimed if job.id not in in_doubt]

    def _first_rows(
        self, push_id: int, ticket_id: str, steps: Sequence[PushStep], now: datetime
    ) -> list[dict[str, Any]]:
        """The rows written at claim time: the steps skipped before the first step worth
        trying, then that step's ``sending`` row (none for a subscription: its consent is
        taken when that step comes)."""
        index = _first_tried(steps)
        if index == len(steps) or steps[index].channel == "subscription":
            return []
        return [
            *self._skipped_rows(push_id, ticket_id, steps[:index], now),
            self._attempt_values(push_id, ticket_id, steps[index].channel, now),
        ]

    @staticmethod
    async def _insert_first_rows(
        session: AsyncSession, rows: Sequence[Mapping[str, Any]]
    ) -> dict[int, int]:
        """Insert a claim's first rows in one statement; the ``sending`` row's id by push.

        Core, not ``session.add``: the ORM writes such rows one ``INSERT … RETURNING`` at a
        time on SQLite (issue 16). The rows keep their order (each push's skipped steps
        before its ``sending`` row), and a push has at most one ``sending`` row here."""
        if not rows:
            return {}
        table = _ATTEMPTS
        result = await (await session.connection()).execute(
            insert(table).returning(table.c.id, table.c.push_id, table.c.outcome), rows
        )
        return {push_id: id_ for id_, push_id, outcome in result if outcome == "sending"}

    def _attempt_values(
        self, push_id: int, ticket_id: str, channel: str, now: datetime
    ) -> dict[str, Any]:
        """The ``sending`` row of a step about to be tried."""
        return {
            "push_id": push_id, "ticket_id": ticket_id, "channel": channel,
            "outcome": "sending", "detail": None, "worker": self.worker_id,
            "started_at": now, "finished_at": None,
        }

    async def _write_attempt(
        self,
        session: AsyncSession,
        job: PushJobRow,
        channel: str,
        skipped: Sequence[PushStep],
        now: datetime,
    ) -> int:
        self._write_skipped(session, job.id, job.ticket_id, skipped, now)
        attempt = PushAttemptRow(**self._attempt_values(job.id, job.ticket_id, channel, now))
        session.add(attempt)
        await session.flush()
        return attempt.id

    def _write_skipped(
        self,
        session: AsyncSession,
        push_id: int,
        ticket_id: str,
        skipped: Sequence[PushStep],
        now: datetime,
    ) -> None:
        for row in self._skipped_rows(push_id, ticket_id, skipped, now):
            session.add(PushAttemptRow(**row))

    def _skipped_rows(
        self, push_id: int, ticket_id: str, skipped: Sequence[PushStep], now: datetime
    ) -> list[dict[str, Any]]:
        """The rows of steps not tried (the columns of :meth:`_attempt_values`)."""
        return [
            {
                "push_id": push_id, "ticket_id": ticket_id, "channel": step.channel,
                "outcome": "skipped", "detail": step.skip, "worker": self.worker_id,
                "started_at": now, "finished_at": now,
            }
            for step in skipped
            if step.skip is not None
        ]

    # -- sending ----------------------------------------------------------------------------

    async def _send(self, push: _Planned) -> _Result:
        async with self._limit:
            # The first step tried has its row from the claim; the others open their own.
            attempt = push.first_attempt
            start = _first_tried(push.steps) if attempt is not None else 0
            skips: list[PushStep] = []
            refused: _Refused | None = None
            for step in push.steps[start:]:
                if step.skip is not None:
                    skips.append(step)
                    continue
                consent: str | None = None
                if attempt is None:
                    try:
                        opened = await self._begin(push, step.channel, skips, refused)
                    except (DatabaseError, SQLAlchemyError) as exc:
                        # Nothing of this step was written or sent: retry the push later.
                        log.warning("push %d: starting %s failed: %s", push.job.id,
                                    step.channel, type(exc).__name__)
                        previous = refused or _Refused(-1, _Outcome("failed"), None)
                        return _Result(push, "retry", attempt=previous.attempt,
                                       outcome=previous.outcome, skipped=skips,
                                       consent=previous.consent)
                    skips, refused = [], None
                    if opened is None:
                        return _Result(push, "lost")
                    attempt, consent, skip = opened
                    if attempt is None:
                        skips.append(PushStep(step.channel, skip))
                        continue
                outcome = await self._try(step.channel, push.job)
                if outcome.outcome == "delivered":
                    return _Result(push, "sent", via=step.channel, attempt=attempt,
                                   outcome=outcome)
                if outcome.outcome == "refused":
                    refused = _Refused(attempt, outcome, consent)
                    attempt = None
                    continue
                return _Result(
                    push,
                    "unknown" if outcome.outcome == "unknown" else "retry",
                    attempt=attempt,
                    outcome=outcome,
                    consent=consent,
                )
            if refused is None:
                return _Result(push, "undelivered", skipped=skips)
            return _Result(push, "undelivered", attempt=refused.attempt,
                           outcome=refused.outcome, skipped=skips, consent=refused.consent)

    async def _begin(
        self,
        push: _Planned,
        channel: str,
        skipped: Sequence[PushStep],
        refused: _Refused | None,
    ) -> tuple[int | None, str | None, str | None] | None:
        """Start a further step: record the refused one before it, check this worker still
        holds the push and renew its lease, take a subscription consent, write the
        ``sending`` row. ``None``: the push is another worker's now. Else ``(attempt row,
        consent kind taken, None)``, or ``(None, None, why)`` when the step is skipped."""
        config = self.core.config
        now = self.core.clock()
        async with self.core.write() as session:
            row = await session.get(PushJobRow, push.job.id, with_for_update=True)
            if refused is not None:
                await self._finish(session, push, refused.attempt, refused.outcome, now,
                                   consent=refused.consent)
            if row is None or row.status != "pending" or row.claimed_by != self.worker_id:
                return None
            row.lease_until = now + timedelta(seconds=config.lease_seconds)
            consent: str | None = None
            if channel == "subscription":
                template_id = config.subscription_template_id or ""
                consent = await take_consent(session, push.job.openid, template_id, now)
                if consent is None:
                    self._write_skipped(session, push.job.id, push.job.ticket_id, skipped, now)
                    return None, None, "no consent of the resident on record"
            attempt = await self._write_attempt(session, row, channel, skipped, now)
            return attempt, consent, None

    async def _try(self, channel: str, job: _Claimed) -> _Outcome:
        config = self.core.config
        try:
            if channel == "custom":
                await self.messenger.send_text(job.openid, job.text, retry_in_doubt=False)
            elif channel == "template":
                await self.messenger.send_template(
                    job.openid, config.template_status_id or "", job.template_data,
                    retry_in_doubt=False,
                )
            elif channel == "subscription":
                await self.messenger.send_subscription(
                    job.openid,
                    config.subscription_template_id or "",
                    subscription_data(self._subscription, job.template_data),
                    page=config.subscription_page,
                    retry_in_doubt=False,
                )
            elif channel == "sms":
                assert self.sms is not None and job.phone is not None
                await self.sms.send(
                    SmsMessage(job.id, job.ticket_id, job.ticket_status, job.phone,
                               sms_text(job.text))
                )
            else:  # pragma: no cover - the plan names only these
                return _Outcome("refused", detail=f"unknown channel {channel}")
        except WeChatAPIError as exc:
            kind = "refused" if is_refusal(exc.errcode) else "failed"
            return _Outcome(kind, exc.errcode, str(exc))
        except WeChatNetworkError as exc:
            return _Outcome("unknown" if exc.in_doubt else "failed", None, str(exc))
        except WeChatError as exc:
            return _Outcome("failed", None, str(exc))
        except SmsRefused as exc:
            return _Outcome("refused", None, str(exc))
        except SmsInDoubt as exc:
            return _Outcome("unknown", None, str(exc))
        except SmsFailed as exc:
            return _Outcome("failed", None, str(exc))
        except Exception as exc:
            # Not one of the channels' own errors: whether it went out is unknown, and a
            # push that may have arrived is never sent again by itself.
            log.exception("push %d: %s send failed unexpectedly", job.id, channel)
            return _Outcome("unknown", None, f"{type(exc).__name__} while sending")
        return _Outcome("delivered")

    # -- recording --------------------------------------------------------------------------

    async def _finish(
        self,
        session: AsyncSession,
        push: _Planned,
        attempt_id: int,
        outcome: _Outcome,
        now: datetime,
        *,
        consent: str | None = None,
    ) -> None:
        """Write a step's outcome; settle the consent a subscription send took."""
        if attempt_id < 0:
            return  # no row was written
        attempt = await session.get(PushAttemptRow, attempt_id)
        if attempt is None:
            return
        for name, value in _finished(outcome, now).items():
            setattr(attempt, name, value)
        await self._settle_consent(
            session, push.job.openid, attempt.channel, outcome, consent, now
        )

    async def _settle_consent(
        self,
        session: AsyncSession,
        openid: str,
        channel: str,
        outcome: _Outcome,
        consent: str | None,
        now: datetime,
    ) -> None:
        """What a subscription send's outcome does to the resident's consent."""
        if channel != "subscription":
            return
        template_id = self.core.config.subscription_template_id or ""
        if outcome.errcode == SUBSCRIPTION_REFUSED:
            await drop_consent(session, openid, template_id)  # WeChat has none
        elif consent is not None and outcome.outcome in ("refused", "failed"):
            # Certainly not delivered: the one-time consent is still the resident's.
            await give_back_consent(session, openid, template_id, consent, now)

    async def _record(self, results: Sequence[_Result]) -> None:
        """Write the batch's ends in one transaction: Core statements (issue 16), one
        locking read of the pushes, one ``UPDATE`` per table and shape of change; the
        timeline notes and summaries of failures read what they need."""
        config = self.core.config
        now = self.core.clock()
        async with self.core.write() as session:
            conn = await session.connection()
            jobs = {
                row.id: _Locked(*row)
                for row in await conn.execute(
                    _LOCK, {"ids": sorted({r.push.job.id for r in results})}
                )
            }
            live = [r for r in results if r.end != "lost" and r.push.job.id in jobs]
            # The steps' outcomes first: the summaries of failed pushes below read them.
            ended = [
                r for r in live if r.attempt is not None and r.attempt > 0 and r.outcome
            ]
            await update_by_id(
                session, _ATTEMPTS,
                {r.attempt: _finished(r.outcome, now) for r in ended if r.outcome},
            )
            await self._settle_consents(session, ended, now)
            noted = {
                r.push.job.ticket_id
                for r in live
                if r.end in ("retry", "undelivered", "unknown")
                or (r.end == "sent" and jobs[r.push.job.id].status == "failed")
            }
            # One query for the tickets that get a timeline note (undelivered, or
            # delivered after all), not one per push.
            tickets = {
                row.id: row
                for row in (
                    await session.execute(select(TicketRow).where(TicketRow.id.in_(noted)))
                ).scalars()
            } if noted else {}
            changes: dict[int, dict[str, Any]] = {}
            for result in live:
                job = jobs[result.push.job.id]
                self._write_skipped(session, job.id, job.ticket_id, result.skipped, now)
                who = mask_openid(job.openid)
                if result.end == "sent":
                    # Sent is sent, whoever holds the lease by now.
                    ticket = tickets.get(job.ticket_id)
                    if job.status == "failed" and ticket is not None:
                        # Another worker had given it up as unknown meanwhile: correct that.
                        add_event(
                            session, ticket, at=now, actor="system",
                            from_status=ticket.status, to_status=ticket.status,
                            note=timeline_push_delivered_late(
                                status_label(job.ticket_status), result.via or ""
                            ),
                        )
                    changes[job.id] = {
                        "status": "sent", "via": result.via, "sent_at": now,
                        "claimed_by": None, "lease_until": None, "last_error": None,
                        "updated_at": now,
                    }
                    log.info("push %d (ticket %s) sent via %s to %s", job.id, job.ticket_id,
                             result.via, who)
                    continue
                if job.claimed_by != self.worker_id or job.status != "pending":
                    continue  # the lease ran out; another sender has it now
                ticket = tickets.get(job.ticket_id)
                error = await self._summary(session, job.id, result)
                if result.end in ("undelivered", "unknown") or (
                    job.attempts >= config.push_max_attempts
                ):
                    changes[job.id] = await self._undelivered(
                        session, job, ticket, now, error=error
                    )
                    continue
                delay = config.backoff(job.attempts, self._rand)
                changes[job.id] = {
                    "claimed_by": None, "lease_until": None, "last_error": error,
                    "updated_at": now, "next_attempt_at": now + timedelta(seconds=delay),
                }
                log.info("push %d to %s failed (%s); retry in %.1fs", job.id, who, error, delay)
            await update_by_id(session, _JOBS, changes)

    async def _settle_consents(
        self, session: AsyncSession, ended: Sequence[_Result], now: datetime
    ) -> None:
        """:meth:`_settle_consent` for the ended steps that may touch a consent (a consent
        taken, or WeChat's "no subscription"): their channels read in one query, and only
        when there are any (a subscription step is the third of the chain)."""
        touching = [
            r for r in ended
            if r.consent is not None
            or (r.outcome is not None and r.outcome.errcode == SUBSCRIPTION_REFUSED)
        ]
        if not touching:
            return
        channels = dict(
            (
                await session.execute(
                    select(_ATTEMPTS.c.id, _ATTEMPTS.c.channel).where(
                        _ATTEMPTS.c.id.in_([r.attempt for r in touching])
                    )
                )
            ).tuples()
        )
        for r in touching:
            channel = channels.get(r.attempt)
            if channel is not None and r.outcome is not None:
                await self._settle_consent(
                    session, r.push.job.openid, channel, r.outcome, r.consent, now
                )

    async def _summary(self, session: AsyncSession, push_id: int, result: _Result) -> str:
        """``last_error``: this round's steps, ``custom: …; template: …``."""
        await session.flush()
        attempts = (
            await session.execute(
                select(PushAttemptRow)
                .where(PushAttemptRow.push_id == push_id)
                .order_by(PushAttemptRow.id.desc())
                .limit(8)
            )
        ).scalars()
        this_round = []
        for attempt in attempts:
            this_round.append(f"{attempt.channel}: {attempt.detail or attempt.outcome}")
            if attempt.channel == "custom":
                break
        return "; ".join(reversed(this_round))[:_MAX_DETAIL] or (result.end)

    async def _undelivered(
        self,
        session: AsyncSession,
        job: _Claimed | _Locked,
        ticket: TicketRow | None,
        now: datetime,
        *,
        error: str,
    ) -> dict[str, Any]:
        """No channel delivered the push: ``failed`` for good (the job's changed columns,
        returned for the caller's ``UPDATE``), with a timeline note."""
        error = error[:_MAX_DETAIL]
        log.warning("push %d (ticket %s) to %s undelivered after %d attempts: %s", job.id,
                    job.ticket_id, mask_openid(job.openid), job.attempts, error)
        changes = {
            "status": "failed", "claimed_by": None, "lease_until": None,
            "last_error": error, "updated_at": now,
        }
        if ticket is None:
            return changes
        await session.flush()
        steps = [
            step_summary(a.channel, a.outcome, a.errcode, a.detail)
            for a in (
                await session.execute(
                    select(PushAttemptRow)
                    .where(PushAttemptRow.push_id == job.id)
                    .order_by(PushAttemptRow.id.desc())
                    .limit(4)
                )
            ).scalars()
        ][::-1]
        follower = "" if ticket.openid == job.openid else "（关注者）"
        add_event(
            session, ticket, at=now, actor="system", from_status=ticket.status,
            to_status=ticket.status,
            note=follower + timeline_push_undelivered(status_label(job.ticket_status), steps),
        )
        return changes


def _finished(outcome: _Outcome, now: datetime) -> dict[str, Any]:
    """The columns of a step's attempt row once its outcome is known."""
    return {
        "outcome": outcome.outcome,
        "errcode": outcome.errcode,
        "detail": mask_text(outcome.detail)[:_MAX_DETAIL] if outcome.detail else None,
        "finished_at": now,
    }


def _first_tried(steps: Sequence[PushStep]) -> int:
    """The index of the first step worth trying (its row is written at claim time)."""
    for index, step in enumerate(steps):
        if step.skip is None:
            return index
    return len(steps)
