"""Everything analytics a process runs, wired once: store, cluster keeper, reports, alerts
and the followers' pushes.

:class:`Analytics` is built beside the process's :class:`TicketService` (same database,
clock and grid rules). :meth:`Analytics.run` is the background loop: build the clusters,
keep them in step, and — in the process that keeps them (the writer) — check for alerts,
deliver them to the webhook and fan status changes out to followers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx
from sqlalchemy.exc import SQLAlchemyError

from integrations.analytics.alerts import AlertWatch
from integrations.analytics.cache import FactsCache
from integrations.analytics.follows import push_to_followers
from integrations.analytics.keeper import ClusterKeeper
from integrations.analytics.reports import AnalyticsReports
from integrations.analytics.store import AnalyticsStore
from integrations.tickets import TicketService

__all__ = ["Analytics", "AnalyticsConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    """Settings of the analytics loop (``bot.config.Settings`` fills them)."""

    #: alerts go to this URL as JSON (None: console only)
    webhook_url: str | None = None
    #: HMAC-SHA256 key of the ``X-Intake-Signature`` header (None: unsigned)
    webhook_secret: str | None = None
    #: how often surges and hot spots are looked for, seconds
    check_interval: float = 3600.0
    #: how often the clusters take in new tickets (and followers get their pushes), seconds
    sync_interval: float = 2.0


class Analytics:
    """See the module docstring. ``may_write``: whether this process may keep the clusters
    (False in web processes beside a separate ``intake worker``)."""

    def __init__(
        self,
        tickets: TicketService,
        config: AnalyticsConfig | None = None,
        *,
        may_write: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = config or AnalyticsConfig()
        self.config = config
        self.tickets = tickets
        self.store = AnalyticsStore(tickets.core)
        #: every ticket's facts in memory once the keeper has built the clusters
        self.facts = FactsCache(self.store)
        self.keeper = ClusterKeeper(
            self.store,
            areas=tickets.areas.rules,
            may_write=may_write,
            interval=config.sync_interval,
            cache=self.facts,
        )
        self.reports = AnalyticsReports(self.store, cache=self.facts, keeper=self.keeper)
        self.alerts = AlertWatch(
            self.store,
            self.reports,
            webhook_url=config.webhook_url,
            webhook_secret=config.webhook_secret,
            interval=config.check_interval,
            transport=transport,
        )
        tickets.core.add_listener(self.keeper.wake)

    async def run(self, stop: asyncio.Event) -> None:
        """The clusters, the alerts and the followers' pushes until ``stop``."""
        await asyncio.gather(
            self.keeper.run(stop),
            self.alerts.run(stop, lambda: self.keeper.writer),
            self._follower_pushes(stop),
        )

    async def _follower_pushes(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.keeper.writer:
                try:
                    await push_to_followers(self.tickets.core)
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("follower pushes: %s", type(exc).__name__)
                except Exception:
                    log.exception("follower pushes failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.sync_interval)
