"""未诉先办 alerts: surges and hot spots found on a schedule, recorded once, shown in the
console and sent to a webhook.

:class:`AlertWatch` runs in the process that keeps the clusters (one writer):

* every ``interval`` it computes the surges (per street and per community, the last week
  against the eight before) and the hot spots (the last 30 days) and records each alert
  in ``analytics_alerts`` under its ``key`` — a surge's area × category × week, a hot
  spot's cluster × week — so the same alert found again the next hour is not repeated;
* every pass it posts pending alerts to ``INTAKE_ANALYTICS_WEBHOOK_URL`` (JSON, one alert
  per request, ``X-Intake-Signature: sha256=<hex HMAC of the body>`` when a secret is set),
  retrying with backoff (1 min doubling to 1 h) up to ``max_attempts`` times; then the
  alert is marked ``failed`` (the console still shows it). Without a URL alerts are
  ``off`` for the webhook.

The payload names the cluster, the area, the counts and why it fired (``why``, a sentence
staff can read): see :func:`alert_payload` and ``docs/analytics.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from integrations.analytics.reports import AnalyticsReports, surge_dict
from integrations.analytics.store import AnalyticsStore
from integrations.db.models import AnalyticsAlertRow
from integrations.webhooks import post_json

__all__ = ["AlertRecord", "AlertWatch", "alert_payload"]

log = logging.getLogger(__name__)

_BACKOFF = timedelta(minutes=1)
_BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as stored."""

    id: int
    key: str
    kind: str
    area: str | None
    category: str | None
    cluster_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    webhook_status: str
    webhook_attempts: int
    webhook_error: str | None
    acknowledged_by: str | None


def _week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def alert_payload(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """What the webhook receives: kind, key, area, category, cluster(s), counts, why."""
    return {"kind": kind, **item}


def _record(row: AnalyticsAlertRow) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        key=row.key,
        kind=row.kind,
        area=row.area,
        category=row.category,
        cluster_id=row.cluster_id,
        payload=dict(row.payload),
        created_at=row.created_at,
        webhook_status=row.webhook_status,
        webhook_attempts=row.webhook_attempts,
        webhook_error=row.webhook_error,
        acknowledged_by=row.acknowledged_by,
    )


class AlertWatch:
    """See the module docstring. ``transport``: an httpx transport (tests)."""

    def __init__(
        self,
        store: AnalyticsStore,
        reports: AnalyticsReports,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        interval: float = 3600.0,
        hotspot_days: int = 30,
        max_attempts: int = 8,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.reports = reports
        self.webhook_url = webhook_url or None
        self.webhook_secret = webhook_secret or None
        self.interval = interval
        self.hotspot_days = hotspot_days
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.transport = transport
        self._next_check: datetime | None = None

    # -- finding -----------------------------------------------------------------------------

    async def check(self, now: datetime | None = None) -> list[AlertRecord]:
        """Find surges and hot spots now; record the new ones; returns those."""
        now = now or self.store.now()
        found: list[tuple[str, str, str | None, str | None, str | None, dict[str, Any]]] = []
        for alert in await self.reports.surges(now=now):
            payload = alert_payload("surge", surge_dict(alert))
            lead = alert.clusters[0][0] if alert.clusters else None
            found.append((alert.key, "surge", alert.area, alert.category, lead, payload))
        for spot in await self.reports.hotspots(self.hotspot_days, now=now):
            key = f"hotspot:{spot['id']}:{_week(now)}"
            payload = alert_payload("hotspot", {"key": key, **spot})
            found.append((key, "hotspot", spot["area"], spot["category"], spot["id"], payload))
        return await self._insert(found, now)

    async def _insert(
        self,
        found: Sequence[tuple[str, str, str | None, str | None, str | None, dict[str, Any]]],
        now: datetime,
    ) -> list[AlertRecord]:
        if not found:
            return []
        keys = [f[0] for f in found]
        async with self.store.core.read() as session:
            known = set(
                (
                    await session.execute(
                        select(AnalyticsAlertRow.key).where(AnalyticsAlertRow.key.in_(keys))
                    )
                ).scalars()
            )
        new: list[AlertRecord] = []
        status = "pending" if self.webhook_url else "off"
        for key, kind, area, category, cluster_id, payload in found:
            if key in known:
                continue
            try:
                async with self.store.core.write() as session:
                    row = AnalyticsAlertRow(
                        key=key[:200],
                        kind=kind,
                        area=area[:64] if area else None,
                        category=category,
                        cluster_id=cluster_id,
                        payload=json.loads(json.dumps(payload, default=str)),
                        created_at=now,
                        webhook_status=status,
                        webhook_attempts=0,
                        webhook_next_at=now if self.webhook_url else None,
                        webhook_error=None,
                    )
                    session.add(row)
                    await session.flush()
                    new.append(_record(row))
            except IntegrityError:
                continue  # another process recorded it a moment ago
            known.add(key)
        if new:
            log.info("%d new analytics alerts", len(new))
        return new

    # -- delivering --------------------------------------------------------------------------

    async def deliver(self, now: datetime | None = None, limit: int = 20) -> int:
        """Post due pending alerts to the webhook; returns how many were sent."""
        if not self.webhook_url:
            return 0
        now = now or self.store.now()
        async with self.store.core.read() as session:
            rows = list(
                (
                    await session.execute(
                        select(AnalyticsAlertRow)
                        .where(
                            AnalyticsAlertRow.webhook_status == "pending",
                            AnalyticsAlertRow.webhook_next_at <= now,
                        )
                        .order_by(AnalyticsAlertRow.id)
                        .limit(limit)
                    )
                ).scalars()
            )
        if not rows:
            return 0
        sent = 0
        async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
            for row in rows:
                error = await post_json(
                    client, self.webhook_url, row.payload, secret=self.webhook_secret
                )
                await self._outcome(row, error, now)
                sent += error is None
        return sent

    async def _outcome(self, row: AnalyticsAlertRow, error: str | None, now: datetime) -> None:
        attempts = row.webhook_attempts + 1
        if error is None:
            values: dict[str, Any] = {
                "webhook_status": "sent", "webhook_attempts": attempts, "webhook_error": None,
                "webhook_next_at": None,
            }
        elif attempts >= self.max_attempts:
            values = {"webhook_status": "failed", "webhook_attempts": attempts,
                      "webhook_error": error, "webhook_next_at": None}
            log.warning("alert %s could not be sent to the webhook: %s", row.key, error)
        else:
            wait = min(_BACKOFF_MAX, _BACKOFF * 2 ** (attempts - 1))
            values = {"webhook_attempts": attempts, "webhook_error": error,
                      "webhook_next_at": now + wait}
        async with self.store.core.write() as session:
            await session.execute(
                update(AnalyticsAlertRow).where(AnalyticsAlertRow.id == row.id).values(**values)
            )

    # -- the loop ----------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> None:
        now = now or self.store.now()
        if self._next_check is None or now >= self._next_check:
            self._next_check = now + timedelta(seconds=self.interval)
            await self.check(now)
        await self.deliver(now)

    async def run(
        self, stop: asyncio.Event, is_writer: Callable[[], bool], every: float = 5.0
    ) -> None:
        """Check and deliver while this process keeps the clusters."""
        while not stop.is_set():
            if is_writer():
                try:
                    await self.run_once()
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("analytics alerts: %s", type(exc).__name__)
                except Exception:
                    log.exception("analytics alerts failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    # -- for the console ---------------------------------------------------------------------

    async def recent(self, limit: int = 50) -> list[AlertRecord]:
        async with self.store.core.read() as session:
            rows = (
                await session.execute(
                    select(AnalyticsAlertRow).order_by(AnalyticsAlertRow.id.desc()).limit(limit)
                )
            ).scalars()
            return [_record(r) for r in rows]

    async def acknowledge(self, alert_id: int, actor: str) -> bool:
        now = self.store.now()
        async with self.store.core.write() as session:
            result = await session.execute(
                update(AnalyticsAlertRow)
                .where(
                    AnalyticsAlertRow.id == alert_id, AnalyticsAlertRow.acknowledged_by.is_(None)
                )
                .values(acknowledged_by=actor[:64], acknowledged_at=now)
            )
            return bool(getattr(result, "rowcount", 0))
